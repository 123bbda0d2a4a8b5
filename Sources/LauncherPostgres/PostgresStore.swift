import Foundation
import LauncherCore
import Logging
import PostgresNIO

/// An error the lock holder's own code threw, carried past the database's error translation.
private struct BodyError: Error {
    let error: any Error
}

/// `LauncherStore` over PostgreSQL.
public final class PostgresStore: LauncherStore {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// For `/health`: answers within a second whatever the database does.
    public func ping() async throws {
        _ = try await database.rows("SELECT 1", deadline: .milliseconds(900))
    }

    // MARK: Workloads

    public func createWorkload(_ w: NewWorkload, items: [JSONValue], start: Bool) async throws -> WorkloadRecord {
        // A million items take about ten seconds to insert here: the limit grows with them.
        try await database.transaction(deadline: .seconds(60 + items.count / 10_000)) { [self] connection in
            let rows = try await connection.rows(
                """
                INSERT INTO workload (uuid, project, creator, labels, watchers, source_type, source_config,
                                      executor_type, executor_config, sink_type, sink_config, version, started, updated, wake_at)
                VALUES (\(w.uuid), \(w.project), \(w.creator), \(w.labels), \(w.watchers),
                        \(Rows.stageType(w.sourceConfig)), \(JSONValue.object(w.sourceConfig)),
                        \(Rows.stageType(w.executorConfig)), \(JSONValue.object(w.executorConfig)),
                        \(Rows.stageType(w.sinkConfig)), \(JSONValue.object(w.sinkConfig)),
                        \(w.version), CASE WHEN \(start) THEN now() END, now(), CASE WHEN \(start) THEN now() END)
                RETURNING \(unescaped: Rows.workloadColumns)
                """, logger: logger)
            let record = try Rows.workload(rows[0])
            try await SharedStatements.insertItems(connection, logger: logger, workloadID: record.id, items: items)
            try await SharedStatements.addEvent(
                connection, logger: logger, workloadID: record.id, kind: "created",
                message: "Workload created with \(items.count) item(s)", data: ["creator": .string(w.creator)], actor: w.creator)
            if start {
                try await SharedStatements.addEvent(
                    connection, logger: logger, workloadID: record.id,
                    kind: "started", message: "Workload started", data: .null, actor: w.creator)
            }
            if items.count >= 10_000 {
                // Fresh statistics keep the claim query on its partial index after a bulk load.
                try await connection.execute("ANALYZE source_item", logger: logger)
            }
            return record
        }
    }

    public func workload(uuid: UUID) async throws -> WorkloadRecord? {
        try await database.rows("SELECT \(unescaped: Rows.workloadColumns) FROM workload WHERE uuid = \(uuid)")
            .first.map(Rows.workload)
    }

    public func workloads(filter: WorkloadFilter, afterID: Int64?, limit: Int) async throws -> [WorkloadRecord] {
        var sql = SQLBuilder("SELECT \(Rows.workloadColumns) FROM workload WHERE true")
        if let project = filter.project { sql.append(" AND project = \(sql.bind(project))") }
        if let label = filter.label { sql.append(" AND labels @> ARRAY[\(sql.bind(label))]::text[]") }
        if let creator = filter.creator { sql.append(" AND creator = \(sql.bind(creator))") }
        if let state = filter.state {
            // As WorkloadRecord.state derives it from the timestamps.
            switch state {
            case .finished: sql.append(" AND finished IS NOT NULL AND aborted IS NULL")
            case .aborted: sql.append(" AND finished IS NOT NULL AND aborted IS NOT NULL")
            case .aborting: sql.append(" AND finished IS NULL AND aborted IS NOT NULL")
            case .stopped: sql.append(" AND finished IS NULL AND aborted IS NULL AND stopped IS NOT NULL")
            case .running: sql.append(" AND finished IS NULL AND aborted IS NULL AND stopped IS NULL AND started IS NOT NULL")
            case .created: sql.append(" AND finished IS NULL AND aborted IS NULL AND stopped IS NULL AND started IS NULL")
            }
        }
        switch filter.order {
        case .oldest:
            if let afterID { sql.append(" AND id > \(sql.bind(afterID))") }
            sql.append(" ORDER BY id")
        case .newest:
            if let afterID { sql.append(" AND id < \(sql.bind(afterID))") }
            sql.append(" ORDER BY id DESC")
        case .project:
            // The cursor is the last workload's id; its project is looked up (index workload_project).
            if let afterID { sql.append(" AND (project, id) > (SELECT project, id FROM workload WHERE id = \(sql.bind(afterID)))") }
            sql.append(" ORDER BY project, id")
        }
        sql.append(" LIMIT \(sql.bind(limit))")
        return try await database.rows(sql.query).map(Rows.workload)
    }

    public func statusCounts(workloadIDs: [Int64]) async throws -> [Int64: [WorkflowStatus: Int]] {
        guard !workloadIDs.isEmpty else { return [:] }
        var counts: [Int64: [WorkflowStatus: Int]] = [:]
        for row in try await database.rows(
            """
            SELECT workload_id, status, sum(count)::int8 FROM workload_status_count
            WHERE workload_id = ANY(\(workloadIDs)) GROUP BY 1, 2 HAVING sum(count) > 0
            """)
        {
            let (id, status, count) = try row.decode((Int64, WorkflowStatus, Int64).self)
            counts[id, default: [:]][status] = Int(clamping: count)
        }
        return counts
    }

    public func start(workloadID: Int64, by actor: String) async throws -> WorkloadRecord {
        try await database.transaction { [self] connection in
            let changed = try await connection.rows(
                """
                UPDATE workload SET started = now(), updated = now(), wake_at = now()
                WHERE id = \(workloadID) AND started IS NULL RETURNING 1
                """, logger: logger)
            if !changed.isEmpty {
                try await SharedStatements.addEvent(
                    connection, logger: logger, workloadID: workloadID,
                    kind: "started", message: "Workload started", data: .null, actor: actor)
            }
            return try await reload(connection, workloadID)
        }
    }

    public func stop(workloadID: Int64, by actor: String) async throws -> WorkloadRecord {
        try await database.transaction { [self] connection in
            let changed = try await connection.rows(
                """
                UPDATE workload SET stopped = now(), updated = now(), wake_at = now()
                WHERE id = \(workloadID) AND started IS NOT NULL AND stopped IS NULL AND finished IS NULL RETURNING 1
                """, logger: logger)
            if !changed.isEmpty {
                try await SharedStatements.addEvent(
                    connection, logger: logger, workloadID: workloadID, kind: "stopped",
                    message: "Workload stopped: the source takes no new items", data: .null, actor: actor)
            }
            return try await reload(connection, workloadID)
        }
    }

    public func markAborted(workloadID: Int64, by actor: String) async throws -> WorkloadRecord {
        // One statement may change every workflow of a large workload.
        try await database.transaction(deadline: .seconds(300)) { [self] connection in
            let current = try await connection.rows(
                """
                SELECT finished FROM workload WHERE id = \(workloadID) FOR UPDATE
                """, logger: logger)
            guard try current.first?.decode(Date?.self) == nil else { return try await reload(connection, workloadID) }
            try await connection.execute(
                """
                UPDATE workload SET aborted = COALESCE(aborted, now()), stopped = COALESCE(stopped, now()),
                                    updated = now(), wake_at = now()
                WHERE id = \(workloadID)
                """, logger: logger)
            let unclaimed = try await SharedStatements.abortUnclaimed(connection, logger: logger, workloadID: workloadID)
            let unlaunched = try await connection.rows(
                """
                WITH aborted AS (
                    UPDATE workflow SET status = \(WorkflowStatus.aborted), finished = now(), updated = now()
                    WHERE workload_id = \(workloadID) AND status = \(unescaped: WorkflowStatus.pending.sql) AND launch_attempts = 0
                    RETURNING 1)
                SELECT count(*) FROM aborted
                """, logger: logger)
            let flagged = try await connection.rows(
                """
                WITH flagged AS (
                    UPDATE workflow SET abort_requested = now(), updated = now()
                    WHERE workload_id = \(workloadID) AND abort_requested IS NULL
                      AND status IN \(unescaped: WorkflowStatus.abortableList)
                    RETURNING 1)
                SELECT count(*) FROM flagged
                """, logger: logger)
            let notLaunched = unclaimed + (try unlaunched.first?.decode(Int.self) ?? 0)
            let toAbort = try flagged.first?.decode(Int.self) ?? 0
            try await SharedStatements.addEvent(
                connection, logger: logger, workloadID: workloadID, kind: "aborted",
                message: "Workload aborted: \(toAbort) workflow(s) to abort at the backend, \(notLaunched) never launched",
                data: ["toAbort": .int(Int64(toAbort)), "neverLaunched": .int(Int64(notLaunched))], actor: actor)
            return try await reload(connection, workloadID)
        }
    }

    // MARK: Workflows and events

    public func workflows(workloadID: Int64, filter: WorkflowFilter, afterID: Int64?, limit: Int) async throws -> [WorkflowRecord] {
        var sql = SQLBuilder("SELECT \(Rows.workflowColumns) FROM workflow WHERE workload_id = ")
        sql.append(sql.bind(workloadID))
        Self.appendFilter(filter, to: &sql)
        if let afterID { sql.append(" AND id > \(sql.bind(afterID))") }
        sql.append(" ORDER BY id LIMIT \(sql.bind(limit))")
        return try await database.rows(sql.query).map(Rows.workflow)
    }

    public func workflow(uuid: UUID) async throws -> (workload: UUID, record: WorkflowRecord)? {
        let columns = Rows.workflowColumns.split(separator: ",").map { "f." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        var sql = SQLBuilder(
            "SELECT \(columns.joined(separator: ", ")), w.uuid FROM workflow f JOIN workload w ON w.id = f.workload_id WHERE f.uuid = ")
        sql.append(sql.bind(uuid))
        guard let row = try await database.rows(sql.query).first else { return nil }
        let workload = try row.makeRandomAccess()[columns.count].decode(UUID.self)
        return (workload, try Rows.workflow(row))
    }

    static func appendFilter(_ filter: WorkflowFilter, to sql: inout SQLBuilder) {
        if !filter.includeRetried { sql.append(" AND retried_by IS NULL") }
        if !filter.statuses.isEmpty { sql.append(" AND status = ANY(\(sql.bind(filter.statuses)))") }
        if let submission = filter.submission { sql.append(" AND submission = \(sql.bind(submission))") }
        if !filter.uuids.isEmpty { sql.append(" AND uuid = ANY(\(sql.bind(filter.uuids)))") }
    }

    public func recentEvents(workloadID: Int64, kind: String?, since: Date, limit: Int) async throws -> [WorkloadEvent] {
        var sql = SQLBuilder("SELECT id, at, kind, message, data, actor FROM workload_event WHERE workload_id = ")
        sql.append(sql.bind(workloadID))
        if let kind {
            sql.append(" AND kind = \(sql.bind(kind)) AND at >= \(sql.bind(since)) ORDER BY at DESC, id DESC")
        } else {
            // The newest of all kinds: the primary key, read backwards.
            sql.append(" AND at >= \(sql.bind(since)) ORDER BY id DESC")
        }
        sql.append(" LIMIT \(sql.bind(limit))")
        return try await database.rows(sql.query).map(Self.event)
    }

    static func event(_ row: PostgresRow) throws -> WorkloadEvent {
        let r = row.makeRandomAccess()
        return WorkloadEvent(
            id: try r[0].decode(Int64.self), at: try r[1].decode(Date.self), kind: try r[2].decode(String.self),
            message: try r[3].decode(String.self), data: try r.json(4), actor: try r[5].decode(String?.self))
    }

    public func events(workloadID: Int64, afterID: Int64?, limit: Int) async throws -> [WorkloadEvent] {
        var sql = SQLBuilder("SELECT id, at, kind, message, data, actor FROM workload_event WHERE workload_id = ")
        sql.append(sql.bind(workloadID))
        if let afterID { sql.append(" AND id > \(sql.bind(afterID))") }
        sql.append(" ORDER BY id LIMIT \(sql.bind(limit))")
        return try await database.rows(sql.query).map { row in
            let r = row.makeRandomAccess()
            return WorkloadEvent(
                id: try r[0].decode(Int64.self), at: try r[1].decode(Date.self), kind: try r[2].decode(String.self),
                message: try r[3].decode(String.self), data: try r.json(4), actor: try r[5].decode(String?.self))
        }
    }

    // MARK: Retry

    public func retry(workloadID: Int64, filter: WorkflowFilter, overrides: JSONObject, by actor: String) async throws -> [WorkflowRecord] {
        // One statement may change every workflow of a large workload.
        try await database.transaction(deadline: .seconds(300)) { [self] connection in
            // The workload row lock serialises retry with the updater's finish check.
            let current = try await connection.rows("SELECT finished FROM workload WHERE id = \(workloadID) FOR UPDATE", logger: logger)
            let wasFinished = try current.first?.decode(Date?.self) != nil

            var sql = SQLBuilder("WITH original AS (SELECT id, uuid, source_item_id, attempt, inputs FROM workflow WHERE workload_id = ")
            let workload = sql.bind(workloadID)
            sql.append(workload)
            sql.append(" AND status IN \(WorkflowStatus.finalList)")
            var newest = filter
            newest.includeRetried = false
            Self.appendFilter(newest, to: &sql)
            let submission = sql.bind(UUID().uuidString.lowercased())
            let overridesJSON = sql.bind(JSONValue.object(overrides))
            sql.append(
                """
                 ORDER BY id FOR UPDATE),
                created AS (
                    INSERT INTO workflow (workload_id, uuid, source_item_id, status, attempt, inputs, overrides, retry_of, submission)
                    SELECT \(workload), gen_random_uuid(), source_item_id, \(sql.bind(WorkflowStatus.pending)), attempt + 1, inputs, \(overridesJSON),
                           uuid, \(submission)
                    FROM original ORDER BY id
                    RETURNING \(Rows.workflowColumns)),
                linked AS (
                    UPDATE workflow w SET retried_by = created.uuid, updated = now()
                    FROM created WHERE w.workload_id = \(workload) AND w.uuid = created.retry_of)
                SELECT * FROM created ORDER BY id
                """)
            let created = try await connection.rows(sql.query, logger: logger).map(Rows.workflow)
            guard !created.isEmpty else { return [] }
            try await connection.execute(
                """
                UPDATE workload SET finished = NULL, aborted = NULL, updated = now(), wake_at = now() WHERE id = \(workloadID)
                """, logger: logger)
            try await SharedStatements.addEvent(
                connection, logger: logger, workloadID: workloadID, kind: "retried",
                message: "Retrying \(created.count) workflow(s)\(wasFinished ? "; workload active again" : "")",
                data: ["count": .int(Int64(created.count)), "overrides": overrides.isEmpty ? .null : .object(overrides)], actor: actor)
            return created
        }
    }

    // MARK: Update loop

    public func dueWorkloads(limit: Int) async throws -> [WorkloadRef] {
        try await database.rows(
            """
            SELECT id, uuid, error_count FROM workload
            WHERE started IS NOT NULL AND finished IS NULL AND wake_at <= now()
            ORDER BY wake_at LIMIT \(limit)
            """
        ).map { row in
            let (id, uuid, errors) = try row.decode((Int64, UUID, Int).self)
            return WorkloadRef(id: id, uuid: uuid, errorCount: errors)
        }
    }

    public func withWorkloadLock<T: Sendable>(
        workloadID: Int64, wait: Duration, _ body: @escaping @Sendable (any WorkloadQueues) async throws -> T
    ) async throws -> T? {
        let (client, logger, deadline) = (database.client, logger, database.deadline)
        do {
            // The lease itself has a deadline (a pool whose server is down can keep a connection
            // request waiting); once leased, each call on the connection has its own.
            return try await Deadline(deadline, "the database (a connection for the workload's update)").run { leased -> T? in
                try await client.withConnection { connection -> T? in
                    leased()
                    let queues = PostgresWorkloadQueues(connection: connection, workloadID: workloadID, logger: logger, deadline: deadline)
                    let clock = ContinuousClock()
                    let end = clock.now + wait
                    while true {
                        let rows = try await Deadline(deadline, "the database").run {
                            try await connection.rows(
                                "SELECT pg_try_advisory_lock(5719628, (\(workloadID) % 2147483647)::int4)", logger: logger)
                        }
                        if try rows.first?.decode(Bool.self) == true { break }
                        if clock.now >= end { return nil }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    do {
                        let result = try await body(queues)
                        try await Self.unlock(connection, workloadID, logger: logger, deadline: deadline)
                        return result
                    } catch {
                        try? await Self.unlock(connection, workloadID, logger: logger, deadline: deadline)
                        throw BodyError(error: error)  // the update's own: not a database error
                    }
                }
            }
        } catch let error as BodyError {
            throw error.error
        } catch {
            throw Database.translate(error)
        }
    }

    private static func unlock(_ connection: PostgresConnection, _ workloadID: Int64, logger: Logger, deadline: Duration) async throws {
        try await Deadline(deadline, "the database").run {
            try await connection.execute("SELECT pg_advisory_unlock(5719628, (\(workloadID) % 2147483647)::int4)", logger: logger)
        }
    }

    public func recordUpdateError(workloadID: Int64, message: String, retryAt: Date, quarantine: Bool) async throws {
        try await database.transaction { [self] connection in
            let rows = try await connection.rows(
                """
                UPDATE workload SET last_error = \(message), last_error_at = now(), error_count = error_count + 1,
                                    wake_at = \(retryAt), updated = now(),
                                    quarantined_at = CASE WHEN \(quarantine) THEN COALESCE(quarantined_at, now()) END
                WHERE id = \(workloadID)
                RETURNING error_count::bigint, quarantined_at = now()
                """, logger: logger)
            guard let (consecutive, newly) = try rows.first?.decode((Int64, Bool?).self) else { return }
            // The count (and for quarantine, whether it is new) lets the notification rule tell
            // the moment a streak or a quarantine begins.
            var data: JSONObject = ["retryAt": Timestamp.json(retryAt), "consecutive": .int(consecutive)]
            if quarantine { data["newlyQuarantined"] = .bool(newly ?? false) }
            try await SharedStatements.addEvent(
                connection, logger: logger, workloadID: workloadID, kind: quarantine ? "quarantined" : "error",
                message: message, data: .object(data))
        }
    }

    public func troubleCounts() async throws -> (quarantined: Int, backingOff: Int) {
        let row = try await database.rows(
            """
            SELECT count(*) FILTER (WHERE quarantined_at IS NOT NULL), count(*) FILTER (WHERE error_count > 0)
            FROM workload WHERE started IS NOT NULL AND finished IS NULL
            """, deadline: .seconds(2))[0]
        return try row.decode((Int, Int).self)
    }

    public func redeliver(workloadID: Int64, uuids: [UUID]?, by actor: String) async throws -> Int {
        // One statement may change every workflow of a large workload.
        try await database.transaction(deadline: .seconds(300)) { [self] connection in
            // The workload row lock serialises this with the updater's finish check, as retry does.
            try await connection.execute("SELECT 1 FROM workload WHERE id = \(workloadID) FOR UPDATE", logger: logger)
            var sql = SQLBuilder(
                """
                WITH back AS (
                    UPDATE workflow SET consumed = NULL, delivery_attempts = 0, delivery_error = NULL, delivery = NULL,
                                        next_attempt_at = NULL, updated = now()
                    WHERE workload_id = 
                """)
            sql.append(sql.bind(workloadID))
            sql.append(" AND status = \(sql.bind(WorkflowStatus.succeeded)) AND consumed IS NOT NULL AND delivery_error IS NOT NULL")
            if let uuids { sql.append(" AND uuid = ANY(\(sql.bind(uuids)))") }
            sql.append(" RETURNING 1) SELECT count(*) FROM back")
            let count = try await connection.rows(sql.query, logger: logger).first?.decode(Int.self) ?? 0
            guard count > 0 else { return 0 }
            try await connection.execute(
                """
                UPDATE workload SET finished = NULL, updated = now(), wake_at = now() WHERE id = \(workloadID)
                """, logger: logger)
            try await SharedStatements.addEvent(
                connection, logger: logger, workloadID: workloadID, kind: "redelivered",
                message: "Put \(count) set-aside deliver\(count == 1 ? "y" : "ies") back in the sink's queue",
                data: ["count": .int(Int64(count))], actor: actor)
            return count
        }
    }

    private func reload(_ connection: PostgresConnection, _ workloadID: Int64) async throws -> WorkloadRecord {
        let rows = try await connection.rows(
            "SELECT \(unescaped: Rows.workloadColumns) FROM workload WHERE id = \(workloadID)", logger: logger)
        guard let row = rows.first else { throw LauncherError.notFound("No workload \(workloadID)") }
        return try Rows.workload(row)
    }
}
