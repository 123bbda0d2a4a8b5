import Foundation
import LauncherCore
import LauncherTestSupport
import Testing

@testable import LauncherPostgres

/// The counts by status that `schema/0007_status_counts.sql` keeps up to date, against a full
/// `GROUP BY` over the workflows.
@Suite(.timeLimit(.minutes(3))) struct StatusCountTests {
    /// Whether the kept counts equal a full count, in one statement (one snapshot), and what
    /// each says when they differ.
    static func agree(_ database: Database) async throws -> (Bool, String) {
        let kept = "SELECT workload_id, status, sum(count) AS count FROM workload_status_count GROUP BY 1, 2 HAVING sum(count) <> 0"
        let full = "SELECT workload_id, status, count(*) AS count FROM workflow WHERE retried_by IS NULL GROUP BY 1, 2"
        let text =
            try await database.scalarText(
                """
                SELECT (SELECT coalesce(jsonb_agg(k ORDER BY k.workload_id, k.status), '[]') FROM (\(kept)) k)::text || ' vs ' ||
                       (SELECT coalesce(jsonb_agg(f ORDER BY f.workload_id, f.status), '[]') FROM (\(full)) f)::text
                """) ?? ""
        let parts = text.components(separatedBy: " vs ")
        return (parts.count == 2 && parts[0] == parts[1], String(text.prefix(2000)))
    }

    /// Two updaters racing over three workloads while requests retry the failed workflows of
    /// two of them again and again and abort the third mid-run: the kept counts equal a full
    /// count at every moment it is looked at, and at the end.
    @Test func keptCountsEqualAFullCountThroughAChaoticRun() async throws {
        try await TestLauncher.with { launcher in
            let items = { (count: Int) in TestLauncher.items(count) { ["n": .int(Int64($0)), "fail": .bool($0 % 3 == 0)] } }
            let failing = try await launcher.service.create(
                TestLauncher.request(source: items(300), executor: ["name": "Mock", "failWhen": ["fail": true]]), start: true)
            let slow = try await launcher.service.create(
                TestLauncher.request(source: items(150), executor: ["name": "Mock", "delaySeconds": 3600]), start: true)
            let mixed = try await launcher.service.create(
                TestLauncher.request(source: items(90), executor: ["name": "Mock", "failWhen": ["fail": true], "delaySeconds": 0.05]),
                start: true)
            let ids = [failing, slow, mixed].map(\.record.uuid)
            let database = launcher.database
            let checks = Checks()
            try await launcher.withSecondUpdater { second in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for updater in [launcher.updater, second] {
                        group.addTask {
                            for _ in 0..<400 {
                                let pass = await updater.runPass()
                                if pass.failed > 0 { checks.add("an update pass failed (a deadlock?)") }
                                try await database.execute("UPDATE workload SET wake_at = now() WHERE finished IS NULL")
                            }
                        }
                    }
                    group.addTask {
                        for round in 0..<40 {
                            for id in [ids[0], ids[2]] {
                                do {
                                    _ = try await launcher.service.retry(id, request: ["status": "Failed"])
                                } catch let error as LauncherError where error.kind == .badRequest {
                                    // nothing failed just now
                                } catch {
                                    checks.add("a retry failed: \(error)")
                                }
                            }
                            if round == 1 { _ = try await launcher.service.abort(ids[1]) }
                            let (same, text) = try await Self.agree(database)
                            checks.add(same ? nil : text)
                            try await Task.sleep(for: .milliseconds(40))
                        }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(checks.failures.isEmpty, "kept counts differed mid-run: \(checks.failures.prefix(2))")
            #expect(checks.count >= 40)
            // Compaction keeps the rows a read sums few.
            let rows = try await database.scalar(
                "SELECT max(n)::int FROM (SELECT count(*) AS n FROM workload_status_count GROUP BY workload_id) c")
            #expect((rows ?? 0) <= 64, "\(rows ?? 0) count rows for one workload")
            let (same, text) = try await Self.agree(database)
            #expect(same, "\(text)")
            // Retries happened (old attempts leave the counts) and the abort reached running work.
            #expect(try await database.scalar("SELECT count(*) FROM workflow WHERE retried_by IS NOT NULL") ?? 0 > 100)
            #expect(try await launcher.service.workload(ids[1]).counts[.aborted, default: 0] > 0)
            // What the service reports is the kept count.
            let view = try await launcher.service.workload(ids[0])
            let full = try await database.scalar(
                "SELECT count(*) FROM workflow w JOIN workload l ON l.id = w.workload_id WHERE l.uuid = '\(ids[0])' AND retried_by IS NULL")
            #expect(view.counts.values.reduce(0, +) == full)
        }
    }

    /// Workflows written before the migration are counted by it: a database at schema 0006
    /// with workflows (retried ones among them) gets exact counts from 0007.
    @Test func theMigrationCountsTheWorkflowsAlreadyThere() async throws {
        try await TestDatabase.with(migrate: false) { database, _ in
            let earlier = try Migrator.bundled().filter { $0.version < 7 }
            try await Migrator(database: database, migrations: earlier).migrate()
            try await database.execute(
                """
                INSERT INTO workload (uuid, project, creator, source_type, source_config, executor_type, executor_config,
                                      sink_type, sink_config, version)
                VALUES (gen_random_uuid(), 'p', 'c', 'Items', '{}', 'Mock', '{}', 'None', '{}', '0.1.0')
                """)
            try await database.execute(
                """
                INSERT INTO workflow (workload_id, uuid, status, inputs, retried_by)
                SELECT (SELECT id FROM workload), gen_random_uuid(),
                       (ARRAY['Succeeded', 'Failed', 'Running'])[1 + n % 3], '{}',
                       CASE WHEN n % 10 = 1 THEN gen_random_uuid() END
                FROM generate_series(1, 1000) AS n
                """)
            try await Migrator(database: database).migrate()
            let (same, text) = try await Self.agree(database)
            #expect(same, "\(text)")
            #expect(try await database.scalar("SELECT sum(count)::int FROM workload_status_count") == 900)
        }
    }
}

/// The mid-run comparisons' outcomes.
final class Checks: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [String?] = []
    func add(_ failure: String?) { lock.withLock { results.append(failure) } }
    var count: Int { lock.withLock { results.count } }
    var failures: [String] { lock.withLock { results.compactMap { $0 } } }
}
