import Foundation
import LauncherCore
import Logging
import PostgresNIO

/// One workload's queues, on the connection that holds its update lock.
struct PostgresWorkloadQueues: WorkloadQueues, @unchecked Sendable {
    // The connection is used by one updater task at a time, for the span of its lock.
    let connection: PostgresConnection
    let workloadID: Int64
    let logger: Logger
    /// Each call's limit: the update loop never waits without end on the database.
    let deadline: Duration

    /// Runs `body` on the lock's connection within the deadline; errors as `LauncherError`s.
    private func within<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = self.connection
        do {
            return try await Deadline(deadline, "the database").run { try await body(connection) }
        } catch {
            throw Database.translate(error)
        }
    }

    private func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let logger = self.logger
        return try await within { try await $0.rows(query, logger: logger) }
    }

    private func execute(_ query: PostgresQuery) async throws {
        let logger = self.logger
        try await within { try await $0.execute(query, logger: logger) }
    }

    private func count(_ query: PostgresQuery) async throws -> Int {
        try await rows(query).first?.decode(Int.self) ?? 0
    }

    func reload() async throws -> WorkloadRecord {
        guard let row = try await rows("SELECT \(unescaped: Rows.workloadColumns) FROM workload WHERE id = \(workloadID)").first else {
            throw LauncherError(.notFound, "workload \(workloadID) is gone")
        }
        return try Rows.workload(row)
    }

    // MARK: Source queue

    func recordPoll(items: [JSONValue], state: JSONValue) async throws {
        let (logger, workloadID) = (self.logger, self.workloadID)
        try await within { connection in
            try await Database.transaction(on: connection, logger: logger) { connection in
                try await SharedStatements.insertItems(connection, logger: logger, workloadID: workloadID, items: items)
                try await connection.execute("UPDATE workload SET source_state = \(state) WHERE id = \(workloadID)", logger: logger)
            }
        }
    }

    // MARK: Executor queue

    func inFlight() async throws -> InFlight {
        // Scalar subqueries, so each is served by its own partial index.
        let row = try await rows(
            """
            SELECT (SELECT count(*) FROM workflow WHERE workload_id = \(workloadID) AND status = \(unescaped: WorkflowStatus.pending.sql)),
                   (SELECT count(*) FROM workflow WHERE workload_id = \(workloadID) AND status IN \(unescaped: WorkflowStatus.activeList)),
                   (SELECT count(*) FROM workflow WHERE workload_id = \(workloadID)
                      AND status = \(unescaped: WorkflowStatus.succeeded.sql) AND consumed IS NULL AND delivery IS NOT NULL),
                   LEAST((SELECT min(next_attempt_at) FROM workflow WHERE workload_id = \(workloadID) AND status = \(unescaped: WorkflowStatus.pending.sql)),
                         (SELECT min(next_attempt_at) FROM workflow WHERE workload_id = \(workloadID)
                            AND status = \(unescaped: WorkflowStatus.succeeded.sql) AND consumed IS NULL))
            """)[0]
        let (pending, active, delivering, due) = try row.decode((Int, Int, Int, Date?).self)
        return InFlight(pending: pending, active: active, delivering: delivering, nextBackoffDue: due)
    }

    func claimItems(limit: Int, submission: String) async throws -> [LaunchRequest] {
        // `id = ANY(ARRAY(… SKIP LOCKED))` keeps both scans on their indexes; an item is
        // consumed only in the statement that creates its workflow, which also records the
        // launch attempt about to be made (a crash before the outcome is written then leaves
        // `launch_attempts > 0`, and the next launch looks the workflow up first).
        try await rows(
            """
            WITH claimed AS (
                UPDATE source_item SET consumed = now()
                WHERE workload_id = \(workloadID)
                  AND id = ANY(ARRAY(
                      SELECT id FROM source_item WHERE workload_id = \(workloadID) AND consumed IS NULL
                      ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED))
                  AND (SELECT aborted FROM workload WHERE id = \(workloadID)) IS NULL
                RETURNING id, payload)
            INSERT INTO workflow (workload_id, uuid, source_item_id, status, inputs, submission, launch_attempts)
            SELECT \(workloadID), gen_random_uuid(), id, \(WorkflowStatus.pending), payload, \(submission), 1 FROM claimed ORDER BY id
            RETURNING uuid, inputs
            """
        ).map { row in
            let r = row.makeRandomAccess()
            return LaunchRequest(
                uuid: try r[0].decode(UUID.self), inputs: try r.object(1), attempt: 1, overrides: [:],
                submission: submission, mayExist: false)
        }
    }

    func abortUnclaimed() async throws -> Int {
        let (logger, workloadID) = (self.logger, self.workloadID)
        return try await within { try await SharedStatements.abortUnclaimed($0, logger: logger, workloadID: workloadID) }
    }

    func launchable(limit: Int) async throws -> [LaunchRequest] {
        try await rows(
            """
            SELECT uuid, inputs, attempt, overrides, submission, launch_attempts FROM workflow
            WHERE workload_id = \(workloadID) AND status = \(unescaped: WorkflowStatus.pending.sql) AND abort_requested IS NULL
              AND (next_attempt_at IS NULL OR next_attempt_at <= now())
            ORDER BY id LIMIT \(limit)
            """
        ).map { row in
            let r = row.makeRandomAccess()
            return LaunchRequest(
                uuid: try r[0].decode(UUID.self), inputs: try r.object(1), attempt: try r[2].decode(Int.self),
                overrides: try r.object(3), submission: try r[4].decode(String?.self), mayExist: try r[5].decode(Int.self) > 0)
        }
    }

    func markLaunchAttempt(_ uuids: [UUID]) async throws -> Set<UUID> {
        guard !uuids.isEmpty else { return [] }
        return Set(
            try await rows(
                """
                UPDATE workflow SET launch_attempts = launch_attempts + 1, updated = now()
                WHERE workload_id = \(workloadID) AND uuid = ANY(\(uuids)) AND status = \(WorkflowStatus.pending) AND abort_requested IS NULL
                RETURNING uuid
                """
            ).map { try $0.decode(UUID.self) })
    }

    func recordLaunches(_ outcomes: [UUID: SubmitOutcome], retry: RetryPolicy) async throws -> LaunchTally {
        var tally = LaunchTally()
        for (uuid, outcome) in outcomes {
            guard case .expanded(let expansion) = outcome else { continue }
            tally.launched += try await expand(uuid, expansion)
        }
        var launched = ColumnArrays(columns: 6)
        var failed = ColumnArrays(columns: 1)
        var deferred = ColumnArrays(columns: 1)
        for (uuid, outcome) in outcomes {
            switch outcome {
            case .launched(let l):
                launched.add(
                    uuid,
                    [
                        l.status.rawValue, l.externalID ?? "", l.submission ?? "",
                        l.outputs.map { JSONValue.object($0).description } ?? "",
                        JSONValue.object(l.details).description, l.error?.jsonb.description ?? "",
                    ])
            case .failed(let error):
                failed.add(uuid, [error.jsonb.description])
                tally.lastError = error.message
            case .deferred(let message):
                deferred.add(uuid, [message])
                tally.lastError = message
            case .expanded:
                break  // recorded above
            }
        }
        if !launched.uuids.isEmpty {
            let c = launched.columns
            tally.launched += try await count(
                """
                WITH changed AS (
                    UPDATE workflow w SET status = u.status, external_id = NULLIF(u.external_id, ''),
                        submission = COALESCE(NULLIF(u.submission, ''), w.submission),
                        outputs = NULLIF(u.outputs, '')::jsonb, details = w.details || u.details::jsonb,
                        error = NULLIF(u.error, '')::jsonb, submitted = now(), updated = now(), next_attempt_at = NULL,
                        finished = CASE WHEN u.status IN \(unescaped: WorkflowStatus.finalList) THEN now() END
                    FROM unnest(\(launched.uuids)::uuid[], \(c[0])::text[], \(c[1])::text[], \(c[2])::text[],
                                \(c[3])::text[], \(c[4])::text[], \(c[5])::text[])
                         AS u(uuid, status, external_id, submission, outputs, details, error)
                    WHERE w.workload_id = \(workloadID) AND w.uuid = u.uuid AND w.status = \(WorkflowStatus.pending)
                    RETURNING 1)
                SELECT count(*) FROM changed
                """)
        }
        if !failed.uuids.isEmpty {
            tally.failed = try await count(
                """
                WITH changed AS (
                    UPDATE workflow w SET status = \(WorkflowStatus.failed), error = u.error::jsonb, finished = now(), updated = now(),
                        next_attempt_at = NULL
                    FROM unnest(\(failed.uuids)::uuid[], \(failed.columns[0])::text[]) AS u(uuid, error)
                    WHERE w.workload_id = \(workloadID) AND w.uuid = u.uuid AND w.status = \(WorkflowStatus.pending)
                    RETURNING 1)
                SELECT count(*) FROM changed
                """)
        }
        if !deferred.uuids.isEmpty {
            // The backoff is the launch policy's, computed from each row's own attempt count.
            let attempts = retry.attempts
            for row in try await rows(
                """
                UPDATE workflow w SET
                    status = CASE WHEN w.launch_attempts >= \(attempts) THEN \(WorkflowStatus.failed) ELSE \(WorkflowStatus.pending) END,
                    error = jsonb_build_object('kind', 'infrastructure', 'message',
                        CASE WHEN w.launch_attempts >= \(attempts)
                             THEN 'gave up after ' || w.launch_attempts || ' launch attempts: ' || u.message
                             ELSE 'launch attempt ' || w.launch_attempts || ' failed, will retry: ' || u.message END),
                    next_attempt_at = CASE WHEN w.launch_attempts >= \(attempts) THEN NULL
                        ELSE now() + make_interval(secs => least(\(retry.maxDelay),
                            \(retry.initialDelay) * power(\(retry.multiplier), least(greatest(w.launch_attempts, 1), 64) - 1))) END,
                    finished = CASE WHEN w.launch_attempts >= \(attempts) THEN now() END,
                    updated = now()
                FROM unnest(\(deferred.uuids)::uuid[], \(deferred.columns[0])::text[]) AS u(uuid, message)
                WHERE w.workload_id = \(workloadID) AND w.uuid = u.uuid AND w.status = \(WorkflowStatus.pending)
                RETURNING w.status
                """)
            {
                if try row.decode(WorkflowStatus.self) == .failed { tally.gaveUp += 1 } else { tally.deferred += 1 }
            }
        }
        return tally
    }

    /// Replaces a Pending workflow by the workflows its item expanded into, in one statement.
    private func expand(_ uuid: UUID, _ expansion: Expansion) async throws -> Int {
        var arrays = ColumnArrays(columns: 4)
        for workflow in expansion.workflows {
            arrays.add(
                UUID(),
                [
                    workflow.status.rawValue, workflow.externalID ?? "", JSONValue.object(workflow.inputs).description,
                    JSONValue.object(workflow.details).description,
                ])
        }
        let c = arrays.columns
        return try await count(
            """
            WITH placeholder AS (
                DELETE FROM workflow WHERE workload_id = \(workloadID) AND uuid = \(uuid) AND status = \(WorkflowStatus.pending)
                RETURNING source_item_id, attempt, overrides),
            created AS (
                INSERT INTO workflow (workload_id, uuid, source_item_id, status, attempt, inputs, details, overrides, external_id,
                                      submission, submitted, launch_attempts, finished)
                SELECT \(workloadID), u.uuid, p.source_item_id, u.status, p.attempt, u.inputs::jsonb, u.details::jsonb, p.overrides,
                       NULLIF(u.external_id, ''), \(expansion.submission), now(), 1,
                       CASE WHEN u.status IN \(unescaped: WorkflowStatus.finalList) THEN now() END
                FROM placeholder p,
                     unnest(\(arrays.uuids)::uuid[], \(c[0])::text[], \(c[1])::text[], \(c[2])::text[], \(c[3])::text[])
                         WITH ORDINALITY AS u(uuid, status, external_id, inputs, details, n)
                ORDER BY u.n
                RETURNING 1)
            SELECT count(*) FROM created
            """)
    }

    func active(afterID: Int64?, limit: Int) async throws -> [(id: Int64, workflow: ActiveWorkflow)] {
        try await rows(
            """
            SELECT id, uuid, status, external_id, submission, attempt, overrides, details, submitted
            FROM workflow
            WHERE workload_id = \(workloadID) AND status IN \(unescaped: WorkflowStatus.activeList) AND id > \(afterID ?? 0)
            ORDER BY id LIMIT \(limit)
            """
        ).map { row in (id: try row.makeRandomAccess()[0].decode(Int64.self), workflow: try Self.activeWorkflow(row)) }
    }

    func abortRequested(limit: Int) async throws -> [ActiveWorkflow] {
        try await rows(
            """
            SELECT id, uuid, status, external_id, submission, attempt, overrides, details, submitted
            FROM workflow
            WHERE workload_id = \(workloadID) AND abort_requested IS NOT NULL AND status IN \(unescaped: WorkflowStatus.abortableList)
            ORDER BY id LIMIT \(limit)
            """
        ).map(Self.activeWorkflow)
    }

    private static func activeWorkflow(_ row: PostgresRow) throws -> ActiveWorkflow {
        let r = row.makeRandomAccess()
        return ActiveWorkflow(
            uuid: try r[1].decode(UUID.self), status: try r[2].decode(WorkflowStatus.self),
            externalID: try r[3].decode(String?.self), submission: try r[4].decode(String?.self),
            attempt: try r[5].decode(Int.self), overrides: try r.object(6), details: try r.object(7),
            submitted: try r[8].decode(Date?.self))
    }

    func apply(_ updates: [(previous: WorkflowStatus, update: WorkflowUpdate)]) async throws -> [WorkflowStatus: Int] {
        guard !updates.isEmpty else { return [:] }
        var arrays = ColumnArrays(columns: 6)
        for (previous, u) in updates {
            arrays.add(
                u.uuid,
                [
                    previous.rawValue, u.status.rawValue, u.externalID ?? "",
                    u.outputs.map { JSONValue.object($0).description } ?? "",
                    JSONValue.object(u.details).description, u.error?.jsonb.description ?? "",
                ])
        }
        let c = arrays.columns
        var changed: [WorkflowStatus: Int] = [:]
        for row in try await rows(
            """
            UPDATE workflow w SET status = u.status,
                external_id = COALESCE(NULLIF(u.external_id, ''), w.external_id),
                outputs = COALESCE(NULLIF(u.outputs, '')::jsonb, w.outputs),
                details = w.details || u.details::jsonb,
                error = COALESCE(NULLIF(u.error, '')::jsonb, w.error),
                submitted = CASE WHEN w.submitted IS NULL AND u.status NOT IN \(unescaped: WorkflowStatus.sqlList([.pending, .aborted]))
                                 THEN now() ELSE w.submitted END,
                finished = CASE WHEN u.status IN \(unescaped: WorkflowStatus.finalList) THEN now() ELSE w.finished END,
                updated = now()
            FROM unnest(\(arrays.uuids)::uuid[], \(c[0])::text[], \(c[1])::text[], \(c[2])::text[], \(c[3])::text[],
                        \(c[4])::text[], \(c[5])::text[]) AS u(uuid, previous, status, external_id, outputs, details, error)
            WHERE w.workload_id = \(workloadID) AND w.uuid = u.uuid AND w.status = u.previous
            RETURNING w.status, u.previous
            """)
        {
            let (status, previous) = try row.decode((WorkflowStatus, String).self)
            if status.rawValue != previous { changed[status, default: 0] += 1 }
        }
        return changed
    }

    // MARK: Sink queue

    func deliverable(limit: Int) async throws -> [DeliverableWorkflow] {
        try await rows(
            """
            SELECT uuid, status, attempt, external_id, submission, inputs, outputs, details, created, submitted, finished
            FROM workflow
            WHERE workload_id = \(workloadID) AND status = \(unescaped: WorkflowStatus.succeeded.sql) AND consumed IS NULL AND delivery IS NULL
              AND (next_attempt_at IS NULL OR next_attempt_at <= now())
            ORDER BY id LIMIT \(limit)
            """
        ).map { row in
            let r = row.makeRandomAccess()
            return DeliverableWorkflow(
                uuid: try r[0].decode(UUID.self), status: try r[1].decode(WorkflowStatus.self),
                attempt: try r[2].decode(Int.self), externalID: try r[3].decode(String?.self),
                submission: try r[4].decode(String?.self), inputs: try r.object(5), outputs: try r.object(6),
                details: try r.object(7), created: try r[8].decode(Date.self), submitted: try r[9].decode(Date?.self),
                finished: try r[10].decode(Date?.self))
        }
    }

    func deliveriesUnderWay(limit: Int) async throws -> [PendingDelivery] {
        try await rows(
            """
            SELECT uuid, delivery, delivery_started FROM workflow
            WHERE workload_id = \(workloadID) AND status = \(unescaped: WorkflowStatus.succeeded.sql) AND consumed IS NULL AND delivery IS NOT NULL
            ORDER BY id LIMIT \(limit)
            """
        ).map { row in
            let r = row.makeRandomAccess()
            return PendingDelivery(
                uuid: try r[0].decode(UUID.self), handle: try r.object(1),
                started: try r[2].decode(Date?.self) ?? Date())
        }
    }

    func recordDeliveries(_ outcomes: [UUID: DeliveryOutcome], retry: RetryPolicy) async throws -> DeliveryTally {
        var tally = DeliveryTally()
        var delivered: [UUID] = []
        var started = ColumnArrays(columns: 1)
        var failed = ColumnArrays(columns: 2)
        for (uuid, outcome) in outcomes {
            switch outcome {
            case .delivered: delivered.append(uuid)
            case .retry(let message):
                failed.add(uuid, [message, "retry"])
                tally.lastError = message
            case .rejected(let message):
                failed.add(uuid, [message, "rejected"])
                tally.lastError = message
            case .started(let handle):
                started.add(uuid, [JSONValue.object(handle).description])
            }
        }
        if !started.uuids.isEmpty {
            tally.started = try await count(
                """
                WITH begun AS (
                    UPDATE workflow w SET delivery = u.handle::jsonb, delivery_started = now(), updated = now()
                    FROM unnest(\(started.uuids)::uuid[], \(started.columns[0])::text[]) AS u(uuid, handle)
                    WHERE w.workload_id = \(workloadID) AND w.uuid = u.uuid AND w.consumed IS NULL
                    RETURNING 1)
                SELECT count(*) FROM begun
                """)
        }
        if !delivered.isEmpty {
            tally.delivered = try await count(
                """
                WITH done AS (
                    UPDATE workflow SET consumed = now(), updated = now(), delivery_error = NULL, next_attempt_at = NULL
                    WHERE workload_id = \(workloadID) AND uuid = ANY(\(delivered)) AND consumed IS NULL
                    RETURNING 1)
                SELECT count(*) FROM done
                """)
        }
        if !failed.uuids.isEmpty {
            // The backoff is the delivery policy's, computed from each row's own attempt count.
            for row in try await rows(
                """
                UPDATE workflow w SET delivery_attempts = w.delivery_attempts + 1, delivery_error = u.message, delivery = NULL,
                    consumed = CASE WHEN u.kind = 'rejected' OR w.delivery_attempts + 1 >= \(retry.attempts) THEN now() END,
                    next_attempt_at = now() + make_interval(secs => least(\(retry.maxDelay),
                        \(retry.initialDelay) * power(\(retry.multiplier), least(w.delivery_attempts, 64)))),
                    updated = now()
                FROM unnest(\(failed.uuids)::uuid[], \(failed.columns[0])::text[], \(failed.columns[1])::text[])
                     AS u(uuid, message, kind)
                WHERE w.workload_id = \(workloadID) AND w.uuid = u.uuid AND w.consumed IS NULL
                RETURNING w.consumed IS NOT NULL
                """)
            {
                if try row.decode(Bool.self) { tally.setAside += 1 } else { tally.retrying += 1 }
            }
        }
        return tally
    }

    // MARK: Workload

    func finishIfDone(sourceDone: Bool, ignoreUnconsumedItems: Bool) async throws -> Bool {
        guard sourceDone else { return false }
        let (logger, workloadID) = (self.logger, self.workloadID)
        return try await within { connection in
            try await Database.transaction(on: connection, logger: logger) { connection in
                // Lock the row first (as retry does), so the checks below see a committed retry.
                try await connection.execute("SELECT 1 FROM workload WHERE id = \(workloadID) FOR UPDATE", logger: logger)
                let finished =
                    !(try await connection.rows(
                        """
                        UPDATE workload SET finished = now(), updated = now(), wake_at = NULL
                        WHERE id = \(workloadID) AND finished IS NULL
                          AND (\(ignoreUnconsumedItems) OR NOT EXISTS (
                              SELECT 1 FROM source_item WHERE workload_id = \(workloadID) AND consumed IS NULL))
                          AND NOT EXISTS (SELECT 1 FROM workflow WHERE workload_id = \(workloadID) AND status = \(unescaped: WorkflowStatus.pending.sql))
                          AND NOT EXISTS (SELECT 1 FROM workflow WHERE workload_id = \(workloadID)
                                          AND status IN \(unescaped: WorkflowStatus.activeList))
                          AND NOT EXISTS (SELECT 1 FROM workflow WHERE workload_id = \(workloadID)
                                          AND status = \(unescaped: WorkflowStatus.succeeded.sql) AND consumed IS NULL)
                        RETURNING 1
                        """, logger: logger)).isEmpty
                guard finished else { return false }
                // The last tick: fold the counts (the next change may be far away).
                try await connection.execute(
                    PostgresQuery(unsafeSQL: "WITH \(Self.compactCounts(workloadID))"), logger: logger)
                var counts: JSONObject = [:]
                for row in try await connection.rows(
                    """
                    SELECT status, sum(count)::int8 FROM workload_status_count WHERE workload_id = \(workloadID)
                    GROUP BY 1 HAVING sum(count) > 0
                    """, logger: logger)
                {
                    let (status, count) = try row.decode((WorkflowStatus, Int64).self)
                    counts[status.rawValue] = .int(count)
                }
                try await SharedStatements.addEvent(
                    connection, logger: logger, workloadID: workloadID, kind: "finished", message: "Workload finished",
                    data: .object(counts))
                return true
            }
        }
    }

    /// Also folds the workload's count deltas (schema/0007) into one row per status once more
    /// than 32 have piled up, in the same statement: every tick that does not finish ends here,
    /// so a read of the counts sums a few rows, at no extra round trip.
    func setWake(_ at: Date?) async throws {
        try await execute(
            """
            WITH wake AS (UPDATE workload SET wake_at = \(at), updated = now() WHERE id = \(workloadID)),
            \(unescaped: Self.compactCounts(workloadID))
            """)
    }

    /// The compaction of a workload's count deltas, as the tail of a statement: the rows it
    /// deletes are exactly those it sums, so it stays exact beside concurrent inserts and
    /// concurrent compactions.
    static func compactCounts(_ workloadID: Int64) -> String {
        """
        gone AS (
            DELETE FROM workload_status_count WHERE workload_id = \(workloadID)
              AND (SELECT count(*) FROM workload_status_count WHERE workload_id = \(workloadID)) > 32
            RETURNING status, count)
        INSERT INTO workload_status_count (workload_id, status, count)
        SELECT \(workloadID), status, sum(count) FROM gone GROUP BY status HAVING sum(count) <> 0
        """
    }

    func recordSuccess() async throws {
        try await execute("UPDATE workload SET error_count = 0, quarantined_at = NULL WHERE id = \(workloadID)")
    }

    func addEvent(kind: String, message: String, data: JSONValue) async throws {
        let (logger, workloadID) = (self.logger, self.workloadID)
        try await within {
            try await SharedStatements.addEvent($0, logger: logger, workloadID: workloadID, kind: kind, message: message, data: data)
        }
    }
}

/// Per-row values as one array per column, for `unnest` multi-row updates (empty string = NULL).
struct ColumnArrays {
    var uuids: [UUID] = []
    var columns: [[String]]

    init(columns: Int) { self.columns = Array(repeating: [], count: columns) }

    mutating func add(_ uuid: UUID, _ values: [String]) {
        uuids.append(uuid)
        for (index, value) in values.enumerated() { columns[index].append(value) }
    }
}
