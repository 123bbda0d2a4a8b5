import Foundation
import LauncherCore
import Logging
import PostgresNIO

/// Column lists and row decoders shared by the store and the queues.
enum Rows {
    static let workloadColumns = """
        id, uuid, project, creator, labels, watchers, source_config, executor_config, \
        sink_config, source_state, version, created, started, stopped, aborted, finished, updated, \
        last_error, last_error_at, error_count, quarantined_at
        """

    static func workload(_ row: PostgresRow) throws -> WorkloadRecord {
        let r = row.makeRandomAccess()
        return WorkloadRecord(
            id: try r[0].decode(Int64.self), uuid: try r[1].decode(UUID.self), project: try r[2].decode(String.self),
            creator: try r[3].decode(String.self), labels: try r[4].decode([String].self), watchers: try r.json(5),
            sourceConfig: try r.object(6), executorConfig: try r.object(7), sinkConfig: try r.object(8),
            sourceState: try r.json(9), version: try r[10].decode(String.self), created: try r[11].decode(Date.self),
            started: try r[12].decode(Date?.self), stopped: try r[13].decode(Date?.self), aborted: try r[14].decode(Date?.self),
            finished: try r[15].decode(Date?.self), updated: try r[16].decode(Date?.self),
            lastError: try r[17].decode(String?.self), lastErrorAt: try r[18].decode(Date?.self),
            errorCount: try r[19].decode(Int.self), quarantinedAt: try r[20].decode(Date?.self))
    }

    static let workflowColumns = """
        id, uuid, status, attempt, external_id, submission, inputs, outputs, details, overrides, \
        error, retry_of, retried_by, created, submitted, updated, finished, consumed, delivery_error
        """

    static func workflow(_ row: PostgresRow) throws -> WorkflowRecord {
        let r = row.makeRandomAccess()
        let outputs = try r.json(7)
        return WorkflowRecord(
            id: try r[0].decode(Int64.self), uuid: try r[1].decode(UUID.self), status: try r[2].decode(WorkflowStatus.self),
            attempt: try r[3].decode(Int.self), externalID: try r[4].decode(String?.self), submission: try r[5].decode(String?.self),
            inputs: try r.object(6), outputs: outputs.objectValue, details: try r.object(8), overrides: try r.object(9),
            error: try r.record(10, as: WorkflowError.self), retryOf: try r[11].decode(UUID?.self), retriedBy: try r[12].decode(UUID?.self),
            created: try r[13].decode(Date.self), submitted: try r[14].decode(Date?.self), updated: try r[15].decode(Date.self),
            finished: try r[16].decode(Date?.self), consumed: try r[17].decode(Date?.self), deliveryError: try r[18].decode(String?.self))
    }

    static func stageType(_ config: JSONObject) -> String { config["name"]?.stringValue ?? "" }
}

extension PostgresConnection {
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in try await self.query(query, logger: logger) { rows.append(row) }
        return rows
    }

    func execute(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}

/// Statements used both by the store's requests and by the updater's queues.
enum SharedStatements {
    static func addEvent(
        _ connection: PostgresConnection, logger: Logger, workloadID: Int64,
        kind: String, message: String, data: JSONValue, actor: String? = nil
    ) async throws {
        let stored = data.isNull ? Optional<JSONValue>.none : data
        guard NotificationRule.notifies(kind: kind, data: data) else {
            try await connection.execute(
                """
                INSERT INTO workload_event (workload_id, kind, message, data, actor)
                VALUES (\(workloadID), \(kind), \(message), \(stored), \(actor))
                """, logger: logger)
            return
        }
        // The event and its outbox rows (one per watcher) in one statement.
        try await connection.execute(
            """
            WITH event AS (
                INSERT INTO workload_event (workload_id, kind, message, data, actor)
                VALUES (\(workloadID), \(kind), \(message), \(stored), \(actor))
                RETURNING workload_id, id)
            INSERT INTO notification (workload_id, event_id, watcher)
            SELECT event.workload_id, event.id, watcher.value
            FROM event JOIN workload ON workload.id = event.workload_id,
                 jsonb_array_elements(CASE WHEN jsonb_typeof(workload.watchers) = 'array' THEN workload.watchers ELSE '[]' END)
                     WITH ORDINALITY AS watcher(value, n)
            ORDER BY watcher.n
            """, logger: logger)
    }

    /// Appends items in order, a few thousand per statement.
    static func insertItems(_ connection: PostgresConnection, logger: Logger, workloadID: Int64, items: [JSONValue]) async throws {
        for start in stride(from: 0, to: items.count, by: 5000) {
            let chunk = items[start..<min(start + 5000, items.count)].map(\.description)
            try await connection.execute(
                """
                INSERT INTO source_item (workload_id, payload)
                SELECT \(workloadID), t.payload::jsonb FROM unnest(\(chunk)::text[]) WITH ORDINALITY AS t(payload, n) ORDER BY t.n
                """, logger: logger)
        }
    }

    /// Unclaimed items of an aborted workload become Aborted workflows: nothing is dropped, and
    /// `retry --status Aborted` can still launch them.
    static func abortUnclaimed(_ connection: PostgresConnection, logger: Logger, workloadID: Int64) async throws -> Int {
        let rows = try await connection.rows(
            """
            WITH items AS (
                UPDATE source_item SET consumed = now()
                WHERE workload_id = \(workloadID) AND consumed IS NULL
                RETURNING id, payload),
            created AS (
                INSERT INTO workflow (workload_id, uuid, source_item_id, status, inputs, finished, error)
                SELECT \(workloadID), gen_random_uuid(), id, \(WorkflowStatus.aborted), payload, now(),
                       \(WorkflowError("aborted before it was launched").jsonb)
                FROM items ORDER BY id
                RETURNING 1)
            SELECT count(*) FROM created
            """, logger: logger)
        return try rows.first?.decode(Int.self) ?? 0
    }
}
