import Foundation
import LauncherCore
import LauncherStageSupport

/// `{"name": "Terra DataRepo", "dataset": "<id>", "table": "…", "fromOutputs": {…}}`
///
/// Ingests one row per succeeded workflow into a dataset table: every workflow delivered in a
/// tick goes into one ingest job (`format: "array"`, no staging bucket), which is tracked to
/// completion. `fileref` columns take a `gs://` path and are ingested as files under
/// `/<workflow uuid>/`. When a job of several rows fails, each row is ingested alone, so one bad
/// row does not hold the others back; a single row's failed job is retried with backoff, then
/// set aside with the repository's message.
struct TerraDataRepoSink: Sink, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Terra DataRepo"
        static let summary = "Ingests one row per succeeded workflow into a Terra Data Repository dataset table, tracking the ingest jobs."

        var dataset = DataRepoID(id: "")
        var table = ""
        var fromOutputs: JSONObject = [:]

        static let fields: [Field<Config>] = [
            Field("dataset", \.dataset, required: true, "The dataset id (a UUID)."),
            Field("table", \.table, .text(max: 256, nonBlank: true), required: true, "The table to ingest into."),
            Field(
                "fromOutputs", \.fromOutputs, .freeForm(), required: true,
                ifMissing: "fromOutputs must define a mapping from workflow outputs to columns in the table in the dataset",
                "column → output name, \"$literal\", a list of those, or a nested object."),
        ]
    }

    static let type = StageType<any Sink>(Config.self) { TerraDataRepoSink(config: $0) }

    let config: Config
    var dataset: String { config.dataset.id }
    var table: String { config.table }
    var fromOutputs: JSONObject { config.fromOutputs }

    func validateRemotely(_ context: StageContext) async throws {
        let columns = try await TerraDataRepoSource.tableColumns(
            DataRepo(services: TerraServices(context.environment)),
            dataset: dataset, table: table, field: "sink")
        let extra = fromOutputs.keys.filter { columns[$0] == nil }.sorted()
        if !extra.isEmpty {
            throw LauncherError.invalid(
                "sink.fromOutputs",
                "Found column names in fromOutputs that are not columns of the table in the dataset: "
                    + "\(extra.joined(separator: ", ")) (table \(table) has \(columns.keys.sorted().joined(separator: ", ")))",
                [
                    "dataset": .string(dataset), "table": .string(table), "missing": .array(extra.map(JSONValue.string)),
                    "columns": .array(columns.keys.sorted().map(JSONValue.string)),
                ])
        }
    }

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        let repo = DataRepo(services: TerraServices(context.environment))
        let columns: [String: String]
        do {
            columns = try await TerraDataRepoSource.tableColumns(repo, dataset: dataset, table: table, field: "sink")
        } catch let error as LauncherError {
            return Dictionary(uniqueKeysWithValues: workflows.map { ($0.uuid, .retry(error.message)) })
        }
        let rows = workflows.map { row(for: $0, columns: columns) }
        do {
            let job = try await ingest(rows, repo: repo, context: context, tag: workflows[0].uuid)
            // Each handle keeps its row, so a failed batch can be split without the outputs.
            return Dictionary(
                uniqueKeysWithValues: zip(workflows, rows).map { workflow, row in
                    (workflow.uuid, .started(["job": .string(job), "rows": .int(Int64(rows.count)), "row": row]))
                })
        } catch let refused as BackendError where refused.isRefused && workflows.count == 1 {
            return [workflows[0].uuid: .rejected("the data repository refused the ingest into \(table): \(refused)")]
        } catch {
            return Dictionary(uniqueKeysWithValues: workflows.map { ($0.uuid, .retry("cannot start an ingest into \(table): \(error)")) })
        }
    }

    private func ingest(_ rows: [JSONValue], repo: DataRepo, context: StageContext, tag: UUID) async throws -> String {
        try await repo.ingest(
            dataset: dataset,
            [
                "format": "array", "records": .array(rows), "table": .string(table), "max_bad_records": 0,
                "load_tag": .string("workflow-launcher:\(context.workloadUUID.uuidString.lowercased()):\(tag.uuidString.lowercased())"),
            ])
    }

    func checkDeliveries(_ deliveries: [PendingDelivery], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        let repo = DataRepo(services: TerraServices(context.environment))
        var outcomes: [UUID: DeliveryOutcome] = [:]
        // One status call per ingest job, however many workflows it carries.
        for (job, members) in Dictionary(grouping: deliveries, by: { $0.handle["job"]?.stringValue ?? "" }) {
            var problem: String
            do {
                switch try await repo.jobStatus(job) {
                case "running":
                    continue
                case "succeeded":
                    let bad = try await repo.jobResult(job).badRowCount ?? 0
                    if bad == 0 {
                        for member in members { outcomes[member.uuid] = .delivered }
                        continue
                    }
                    problem = "Row failed to sink to TDR dataset: ingest job \(job) rejected \(bad) row(s)"
                default:
                    problem = "ingest job \(job) failed: \(await repo.jobFailure(job))"
                }
            } catch BackendError.refused(_, 404, _) {
                problem = "the data repository has no ingest job \(job)"
            } catch {
                continue  // unknown: ask again
            }
            guard members.count > 1 else {
                outcomes[members[0].uuid] = problem.hasPrefix("Row failed") ? .rejected(problem) : .retry(problem)
                continue
            }
            // One bad row fails a whole batch: ingest each row alone, so only bad ones are set aside.
            for member in members {
                guard let row = member.handle["row"] else {
                    outcomes[member.uuid] = .retry(problem)
                    continue
                }
                do {
                    let single = try await ingest([row], repo: repo, context: context, tag: member.uuid)
                    outcomes[member.uuid] = .started(["job": .string(single), "rows": 1, "row": row, "split": .string(job)])
                } catch {
                    outcomes[member.uuid] = .retry("\(problem); ingesting the row alone failed too: \(error)")
                }
            }
        }
        return outcomes
    }

    func row(for workflow: DeliverableWorkflow, columns: [String: String]) -> JSONValue {
        var row = FromOutputs.gather(fromOutputs, outputs: workflow.outputs)
        for (column, value) in row where columns[column] == "fileref" {
            row[column] = Self.fileReference(value, workflow: workflow.uuid)
        }
        return .object(row)
    }

    /// A `gs://` path as TDR's file-load object; a list of paths element by element.
    static func fileReference(_ value: JSONValue, workflow: UUID) -> JSONValue {
        switch value {
        case .string(let path) where path.hasPrefix("gs://"):
            let name = path.split(separator: "/").last.map(String.init) ?? path
            return [
                "description": .string(name), "mimeType": .string(mimeType(name)), "sourcePath": .string(path),
                "targetPath": .string("/\(workflow.uuidString.lowercased())/\(name)"),
            ]
        case .array(let values):
            return .array(values.map { fileReference($0, workflow: workflow) })
        default:
            return value
        }
    }

    static func mimeType(_ name: String) -> String {
        let types = [
            "bam": "application/octet-stream", "cram": "application/octet-stream", "vcf": "text/plain", "gz": "application/gzip",
            "json": "application/json", "txt": "text/plain", "tsv": "text/tab-separated-values", "csv": "text/csv",
            "html": "text/html", "pdf": "application/pdf", "png": "image/png",
        ]
        return types[(name.split(separator: ".").last.map(String.init) ?? "").lowercased()] ?? "application/octet-stream"
    }
}
