import Foundation
import LauncherCore
import PostgresNIO

/// The notification outbox (`schema/0006_notifications.sql`).
extension PostgresStore {
    public func claimNotifications(limit: Int, lease: Duration, kinds: [String]) async throws -> [OutgoingNotification] {
        let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        // SKIP LOCKED: two replicas claiming at the same moment take different rows; the
        // pushed-back `due` keeps a claimed row from either until its lease runs out.
        let rows = try await database.rows(
            """
            WITH claimed AS (
                UPDATE notification SET due = now() + \(seconds) * interval '1 second', attempts = attempts + 1
                WHERE id IN (SELECT id FROM notification WHERE sent IS NULL AND gave_up IS NULL AND due <= now()
                               AND watcher->>0 = ANY(\(kinds))
                             ORDER BY due, id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING id, key, attempts, watcher, workload_id, event_id)
            SELECT c.id, c.key, c.attempts::int8, c.watcher, w.uuid, w.project, e.id, e.at, e.kind, e.message, e.data
            FROM claimed c JOIN workload w ON w.id = c.workload_id
                 JOIN workload_event e ON e.workload_id = c.workload_id AND e.id = c.event_id
            ORDER BY c.id
            """, deadline: .seconds(10))
        return try rows.map { row in
            let r = row.makeRandomAccess()
            return OutgoingNotification(
                id: try r[0].decode(Int64.self), key: try r[1].decode(UUID.self), attempts: try r[2].decode(Int.self),
                watcher: try r.json(3), workload: try r[4].decode(UUID.self), project: try r[5].decode(String.self),
                event: WorkloadEvent(
                    id: try r[6].decode(Int64.self), at: try r[7].decode(Date.self), kind: try r[8].decode(String.self),
                    message: try r[9].decode(String.self), data: try r.json(10)))
        }
    }

    public func recordNotifications(_ results: [NotificationAttempt]) async throws {
        var sent: [Int64] = []
        var retryIDs: [Int64] = [], retryAttempts: [Int64] = [], retryAt: [Date] = [], retryErrors: [String] = []
        var givenUp: [Int64] = [], givenUpAttempts: [Int64] = [], givenUpErrors: [String] = []
        for attempt in results.sorted(by: { $0.id < $1.id }) {
            switch attempt.result {
            case .sent: sent.append(attempt.id)
            case .retry(let at, let error):
                retryIDs.append(attempt.id)
                retryAttempts.append(Int64(attempt.attempt))
                retryAt.append(at)
                retryErrors.append(error)
            case .gaveUp(let error):
                givenUp.append(attempt.id)
                givenUpAttempts.append(Int64(attempt.attempt))
                givenUpErrors.append(error)
            }
        }
        try await database.transaction(deadline: .seconds(10)) {
            [self, sent, retryIDs, retryAttempts, retryAt, retryErrors, givenUp, givenUpAttempts, givenUpErrors] connection in
            if !sent.isEmpty {
                try await connection.execute(
                    """
                    UPDATE notification SET sent = now(), last_error = NULL
                    WHERE id = ANY(\(sent)) AND sent IS NULL AND gave_up IS NULL
                    """, logger: logger)
            }
            if !retryIDs.isEmpty {
                // Only the attempt that holds the row reschedules it.
                try await connection.execute(
                    """
                    UPDATE notification n SET due = u.due, last_error = u.error
                    FROM unnest(\(retryIDs)::int8[], \(retryAttempts)::int8[], \(retryAt)::timestamptz[], \(retryErrors)::text[])
                         AS u(id, attempt, due, error)
                    WHERE n.id = u.id AND n.attempts = u.attempt AND n.sent IS NULL AND n.gave_up IS NULL
                    """, logger: logger)
            }
            if !givenUp.isEmpty {
                // The reason goes on the workload's event log, where its owner looks.
                try await connection.execute(
                    """
                    WITH given AS (
                        UPDATE notification n SET gave_up = now(), last_error = u.error
                        FROM unnest(\(givenUp)::int8[], \(givenUpAttempts)::int8[], \(givenUpErrors)::text[]) AS u(id, attempt, error)
                        WHERE n.id = u.id AND n.attempts = u.attempt AND n.sent IS NULL AND n.gave_up IS NULL
                        RETURNING n.workload_id, n.key, n.watcher, u.error)
                    INSERT INTO workload_event (workload_id, kind, message, data)
                    SELECT workload_id, 'notification-failed', error, jsonb_build_object('notification', key, 'watcher', watcher)
                    FROM given
                    """, logger: logger)
            }
        }
    }
}
