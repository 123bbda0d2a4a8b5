import Foundation
import LauncherCore
import LauncherStageSupport

/// `{"name": "Terra DataRepo", "dataset": "<id>", "table": "…", "snapshotReaders": [emails], "pollingIntervalMinutes": 20, "loadTag": "…"}`
///
/// Watches a dataset table for new rows and turns them into snapshots, one item per snapshot:
///
/// 1. Every `pollingIntervalMinutes`, BigQuery lists the rows of the table's row-metadata
///    table ingested since the last query (every page; `loadTag` is a prefix filter). The
///    window overlaps the previous one by two hours, and rows already seen are skipped, so a
///    row that became visible late is still found and none is taken twice.
/// 2. New rows are cut into shards of at most 500 and **planned** with a fixed snapshot name;
///    the plan is saved before any snapshot is requested. A planned shard is created on the
///    next pass, and a snapshot of that name found at TDR is adopted rather than created again,
///    so a crash never makes two snapshots of the same rows.
/// 3. Snapshot jobs are followed to the end. A finished snapshot becomes an item; a failed job
///    is reported on the workload and retried with backoff, keeping its rows.
struct TerraDataRepoSource: Source, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Terra DataRepo"
        static let summary =
            "Watches a Terra Data Repository dataset table for new rows and snapshots them (at most 500 rows each); one item per snapshot."

        var dataset = DataRepoID(id: "")
        var table = ""
        var snapshotReaders: [String] = []
        var pollingIntervalMinutes = 20.0
        var loadTag: String?

        static let fields: [Field<Config>] = [
            Field("dataset", \.dataset, required: true, "The dataset id (a UUID)."),
            Field("table", \.table, .text(max: 256, nonBlank: true), required: true, "The table to watch."),
            Field(
                "snapshotReaders", \.snapshotReaders,
                .list(.matching("[^@\\s]+@[^@\\s]+\\.[^@\\s]+", "is not an email address", max: 320), max: 1000), required: true,
                "Emails given read access to each snapshot."),
            Field(
                "pollingIntervalMinutes", \.pollingIntervalMinutes, .above(0, max: 43_200),
                "Minutes between looks for new rows (frequent snapshots lock the dataset)."),
            Field("loadTag", \.loadTag, .text(max: 256), "Only rows whose load tag starts with this."),
        ]
    }

    static let type = StageType<any Source>(Config.self) { TerraDataRepoSource(config: $0) }

    let config: Config
    var dataset: String { config.dataset.id }
    var table: String { config.table }
    var snapshotReaders: [String] { config.snapshotReaders }
    var pollingIntervalMinutes: Double { config.pollingIntervalMinutes }
    var loadTag: String? { config.loadTag }

    static let shardSize = 500
    static let lookBack: TimeInterval = 2 * 3600
    static let jobCheckSeconds: TimeInterval = 30

    var isOpen: Bool { true }

    /// The table's columns (name → datatype), or WFL's "Cannot access dataset" / "Table not found".
    static func tableColumns(_ repo: DataRepo, dataset: String, table: String, field: String) async throws -> [String: String] {
        try columns(of: try await describe(repo, dataset: dataset, field: field), table: table, field: field)
    }

    static func describe(_ repo: DataRepo, dataset: String, field: String) async throws -> TDRDataset {
        do {
            return try await repo.dataset(dataset)
        } catch {
            throw TerraServices.createError(error, field: "\(field).dataset", what: "dataset", name: dataset)
        }
    }

    static func columns(of description: TDRDataset, table: String, field: String) throws -> [String: String] {
        let tables = description.schema?.tables ?? []
        guard let found = tables.first(where: { $0.name == table }) else {
            let names = tables.compactMap(\.name)
            throw LauncherError.invalid(
                "\(field).table",
                "Table not found: dataset \(description.name ?? "") has no table \"\(table)\"; "
                    + "it has \(names.joined(separator: ", "))",
                ["table": .string(table), "tables": .array(names.map(JSONValue.string))])
        }
        var columns: [String: String] = [:]
        for column in found.columns ?? [] {
            if let name = column.name { columns[name] = column.datatype ?? "" }
        }
        return columns
    }

    /// The dataset's BigQuery project and dataset, where the row-metadata tables live.
    struct Location {
        let dataProject: String
        let project: String
        let dataset: String
        func metadataTable(_ table: String) -> String { "`\(project).\(dataset).datarepo_row_metadata_\(table)`" }
    }

    static func location(_ description: TDRDataset) throws -> Location {
        let bq = description.accessInformation?.bigQuery
        guard let project = bq?.projectId, let name = bq?.datasetName else {
            throw BackendError.unavailable(
                service: "the data repository", reason: "the dataset description has no accessInformation.bigQuery")
        }
        return Location(dataProject: description.dataProject ?? project, project: project, dataset: name)
    }

    func validateRemotely(_ context: StageContext) async throws {
        let services = TerraServices(context.environment)
        let description = try await Self.describe(DataRepo(services: services), dataset: dataset, field: "source")
        _ = try Self.columns(of: description, table: table, field: "source")
        do {
            let bigQuery = try Self.location(description)
            let found = try await BigQuery(services: services).query(
                project: bigQuery.dataProject,
                "SELECT table_id FROM `\(bigQuery.project).\(bigQuery.dataset).__TABLES__` WHERE table_id = @table",
                parameters: [("table", "datarepo_row_metadata_\(table)")])
            if found.isEmpty {
                throw LauncherError.invalid(
                    "source.table", "TDR row metadata table not found in BigQuery at \(bigQuery.metadataTable(table))")
            }
        } catch let error as LauncherError {
            throw error
        } catch {
            throw TerraServices.createError(error, field: "source.dataset", what: "the BigQuery dataset of dataset", name: dataset)
        }
    }

    // MARK: Polling

    /// The source's memory between polls, stored with the workload.
    struct State {
        var lastQuery: Date?
        var checkedUntil: Date?
        /// Rows seen in the overlap window: id → ingest time.
        var recent: [String: String] = [:]
        var shards: [Shard] = []
        var snapshots = 0

        struct Shard {
            var name: String
            var rows: [String]
            var job: String?
            var attempts = 0
            var retryAt: Date?
            var error: String?
        }

        init() {}

        init(_ json: JSONValue) {
            lastQuery = json["lastQuery"]?.stringValue.flatMap(TerraExecutor.parseTime)
            checkedUntil = json["checkedUntil"]?.stringValue.flatMap(TerraExecutor.parseTime)
            for (id, time) in json["recent"]?.objectValue ?? [:] { recent[id] = time.stringValue ?? "" }
            shards = (json["shards"]?.arrayValue ?? []).map { shard in
                Shard(
                    name: shard["name"]?.stringValue ?? "", rows: (shard["rows"]?.arrayValue ?? []).compactMap(\.stringValue),
                    job: shard["job"]?.stringValue, attempts: Int(shard["attempts"]?.intValue ?? 0),
                    retryAt: shard["retryAt"]?.stringValue.flatMap(TerraExecutor.parseTime), error: shard["error"]?.stringValue)
            }
            snapshots = Int(json["snapshots"]?.intValue ?? 0)
        }

        var json: JSONValue {
            .object(
                [
                    "lastQuery": Timestamp.json(lastQuery), "checkedUntil": Timestamp.json(checkedUntil),
                    "recent": .object(recent.mapValues(JSONValue.string)),
                    "shards": .array(
                        shards.map { shard in
                            JSONValue.object(
                                [
                                    "name": .string(shard.name), "rows": .array(shard.rows.map(JSONValue.string)),
                                    "job": JSONValue(shard.job),
                                    "attempts": JSONValue(shard.attempts), "retryAt": Timestamp.json(shard.retryAt),
                                    "error": JSONValue(shard.error),
                                ].compacted)
                        }),
                    "snapshots": JSONValue(snapshots),
                ].compacted)
        }
    }

    func poll(_ context: StageContext, state stored: JSONValue) async throws -> SourcePoll {
        let services = TerraServices(context.environment)
        let repo = DataRepo(services: services)
        let now = Date()
        var state = State(stored)
        let interval = pollingIntervalMinutes * 60
        if state.shards.isEmpty, let last = state.lastQuery, now.timeIntervalSince(last) < interval {
            return SourcePoll(state: stored, nextPoll: last.addingTimeInterval(interval))  // nothing to do yet: no calls
        }
        var items: [JSONValue] = []
        var problems: [String] = []
        let description = try await Self.describe(repo, dataset: dataset, field: "source")

        // 1. Planned, running and failed shards move on.
        var remaining: [State.Shard] = []
        for var shard in state.shards {
            do {
                if let snapshot = try await advance(&shard, repo: repo, description: description, now: now, problems: &problems) {
                    items.append(["snapshotId": .string(snapshot), "snapshotName": .string(shard.name)])
                    state.snapshots += 1
                    continue
                }
            } catch {
                problems.append("snapshot \(shard.name): \(error)")
            }
            remaining.append(shard)
        }
        state.shards = remaining

        // 2. New rows, every pollingIntervalMinutes; they are planned now and requested next pass.
        var plannedNow = false
        if state.lastQuery.map({ now.timeIntervalSince($0) >= interval }) ?? true {
            let location = try Self.location(description)
            let from = (state.checkedUntil ?? now).addingTimeInterval(-Self.lookBack)
            var sql =
                "SELECT datarepo_row_id, FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', ingest_time) FROM \(location.metadataTable(table)) "
                + "WHERE ingest_time > TIMESTAMP(@from) AND ingest_time <= TIMESTAMP(@until)"
            var parameters = [("from", Timestamp.format(from)), ("until", Timestamp.format(now))]
            if let loadTag {
                sql += " AND STARTS_WITH(load_tag, @loadTag)"
                parameters.append(("loadTag", loadTag))
            }
            let rows = try await BigQuery(services: services).query(
                project: location.dataProject, sql + " ORDER BY ingest_time", parameters: parameters)
            let inShards = Set(state.shards.flatMap(\.rows))
            var fresh: [String] = []
            for row in rows where row.count >= 2 && state.recent[row[0]] == nil && !inShards.contains(row[0]) {
                fresh.append(row[0])
                state.recent[row[0]] = row[1]
            }
            let horizon = Timestamp.format(now.addingTimeInterval(-Self.lookBack))
            state.recent = state.recent.filter { $0.value.prefix(19) >= horizon.prefix(19) }  // to the second: formats differ in fractions
            let stamp = Self.nameStamp(now)
            let datasetName = description.name ?? "dataset"
            for (index, start) in stride(from: 0, to: fresh.count, by: Self.shardSize).enumerated() {
                state.shards.append(
                    State.Shard(
                        name: "\(datasetName)_\(table)_\(stamp)_\(index)",
                        rows: Array(fresh[start..<min(start + Self.shardSize, fresh.count)])))
                plannedNow = true
            }
            state.lastQuery = now
            state.checkedUntil = now
        }

        var wake = state.lastQuery.map { $0.addingTimeInterval(interval) } ?? now
        if plannedNow || state.shards.contains(where: { $0.job == nil && $0.retryAt == nil }) { wake = now }
        if state.shards.contains(where: { $0.job != nil }) { wake = min(wake, now.addingTimeInterval(Self.jobCheckSeconds)) }
        for retryAt in state.shards.compactMap(\.retryAt) { wake = min(wake, retryAt) }
        return SourcePoll(
            items: items, state: state.json, nextPoll: wake, problem: problems.isEmpty ? nil : problems.joined(separator: "; "))
    }

    /// One step of a shard; returns the snapshot id once the snapshot exists.
    private func advance(
        _ shard: inout State.Shard, repo: DataRepo, description: TDRDataset, now: Date,
        problems: inout [String]
    ) async throws -> String? {
        if let job = shard.job {
            let status: String
            do {
                status = try await repo.jobStatus(job)
            } catch BackendError.refused(_, 404, _) {
                status = "failed"
            }
            switch status {
            case "running":
                return nil
            case "succeeded":
                if let id = try await repo.jobResult(job).id { return id }
                fallthrough
            default:
                // An earlier request for this name (cut short by a crash) may have made it.
                if let id = try await repo.snapshot(named: shard.name, dataset: dataset)?.id { return id }
                let message = await repo.jobFailure(job)
                shard.job = nil
                shard.attempts += 1
                shard.error = message
                shard.retryAt = now.addingTimeInterval(min(pollingIntervalMinutes * 60, 60 * pow(2, Double(shard.attempts - 1))))
                problems.append(
                    "Snapshot creation job \(job) for \(shard.name) (\(shard.rows.count) rows) failed: \(message); "
                        + "retrying at \(Timestamp.format(shard.retryAt!)) (attempt \(shard.attempts + 1))")
                return nil
            }
        }
        if let retryAt = shard.retryAt, retryAt > now { return nil }
        if let id = try await repo.snapshot(named: shard.name, dataset: dataset)?.id { return id }
        let columns = try Self.columns(of: description, table: table, field: "source").keys.sorted()
        let request: JSONValue = [
            "contents": [
                [
                    "datasetName": .string(description.name ?? ""), "mode": "byRowId",
                    "rowIdSpec": [
                        "tables": [
                            [
                                "tableName": .string(table), "columns": .array((["datarepo_row_id"] + columns).map(JSONValue.string)),
                                "rowIds": .array(shard.rows.map(JSONValue.string)),
                            ]
                        ]
                    ],
                ]
            ],
            "description": .string(description.description ?? ""), "name": .string(shard.name),
            "profileId": JSONValue(description.defaultProfileId), "readers": .array(snapshotReaders.map(JSONValue.string)),
        ]
        shard.job = try await repo.createSnapshot(request)
        shard.retryAt = nil
        return nil
    }

    /// `yyyyMMdd'T'HHmmss` in UTC with the calendar year (WFL used the week-based year).
    static func nameStamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }
}
