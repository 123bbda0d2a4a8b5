import Foundation
import LauncherCore
import LauncherTestSupport
import PostgresNIO
import Synchronization
import Testing

@testable import LauncherPostgres

/// Each test has a time limit: a claim that never consumes must fail the test, not hang it.
@Suite(.timeLimit(.minutes(3))) struct ConcurrencyTests {
    @Test func twoUpdateLoopsAtOnceNeverLaunchAnItemTwice() async throws {
        try await TestLauncher.with { launcher in
            let log = launcher.home.appendingPathComponent("launches.log").path
            var uuids: [UUID] = []
            for _ in 0..<3 {
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: TestLauncher.items(20),
                        executor: ["name": "Local", "command": .string("echo \"$WFL_WORKLOAD_UUID {{n}}\" >> \(log)"), "maxParallel": 8]),
                    start: true)
                uuids.append(view.record.uuid)
            }
            let ids = uuids
            // Two updaters, each on its own connection pool (as two processes would be), racing.
            try await launcher.withSecondUpdater { second in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for updater in [launcher.updater, second] {
                        group.addTask {
                            let deadline = ContinuousClock.now + .seconds(90)
                            while ContinuousClock.now < deadline {
                                _ = await updater.runPass()
                                var finished = 0
                                for id in ids where try await launcher.service.workload(id).record.finished != nil { finished += 1 }
                                if finished == ids.count { return }
                                // Tight loop: make the updaters collide as often as possible.
                                try await launcher.database.execute("UPDATE workload SET wake_at = now()")
                            }
                            throw TestFailure("workloads did not finish")
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 60, "launched \(lines.count) times for 60 items")
            #expect(Set(lines).count == 60)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow") == 60)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow WHERE launch_attempts <> 1") == 0)
        }
    }

    @Test func twoUpdatersOnAThousandMockItems() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(1000), executor: ["name": "Mock"]), start: true)
            let id = view.record.id
            try await launcher.withSecondUpdater { second in
                async let a: Void = {
                    for _ in 0..<200 { _ = try await launcher.updater.update(workloadID: id) }
                }()
                async let b: Void = {
                    for _ in 0..<200 { _ = try await second.update(workloadID: id) }
                }()
                _ = try await (a, b)
            }
            _ = try await launcher.runUntilFinished(view.record.uuid)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow") == 1000)
            #expect(try await launcher.database.scalar("SELECT count(DISTINCT source_item_id) FROM workflow") == 1000)
        }
    }

    @Test func aHeldLockMakesOtherUpdatersSkipTheWorkload() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock"]), start: true)
            let id = view.record.id
            let skipped = try await launcher.store.withWorkloadLock(workloadID: id, wait: .zero) { _ in
                try await launcher.withSecondUpdater { second in
                    let pass = await second.runPass()
                    return pass.skippedLocked
                }
            }
            #expect(skipped == 1)
            #expect(try await launcher.service.workload(view.record.uuid).counts.isEmpty)
        }
    }

    /// The claim itself, from many connections at once and without the workload's lock (which
    /// would hide a claim that is not `FOR UPDATE SKIP LOCKED`): no item is claimed twice.
    @Test func concurrentClaimsFromSeparateConnectionsNeverTakeAnItemTwice() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(2000), executor: ["name": "Mock"]), start: true)
            let id = view.record.id
            let claimed = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await launcher.database.client.withConnection { connection in
                            let queues = PostgresWorkloadQueues(
                                connection: connection, workloadID: id, logger: launcher.logger, deadline: .seconds(30))
                            var mine: [UUID] = []
                            while true {
                                let batch = try await queues.claimItems(limit: 37, submission: UUID().uuidString)
                                if batch.isEmpty { return mine }
                                mine += batch.map(\.uuid)
                            }
                        }
                    }
                }
                return try await group.reduce(into: [UUID]()) { $0 += $1 }
            }
            #expect(claimed.count == 2000)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow") == 2000)
            #expect(try await launcher.database.scalar("SELECT count(DISTINCT source_item_id) FROM workflow") == 2000)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM source_item WHERE consumed IS NULL") == 0)
        }
    }
}

/// Counts what it is asked to send, after a short pause (a receiver's round trip).
final class CountingChannel: NotificationChannel {
    private let keys = Mutex<[UUID]>([])

    func send(_ message: NotificationMessage, to address: String) async -> SendOutcome {
        try? await Task.sleep(for: .milliseconds(2))
        keys.withLock { $0.append(message.key) }
        return .accepted
    }

    var sent: [UUID] { keys.withLock { $0 } }
}

@Suite struct NotificationReplicaTests {
    /// Two replicas sending the same outbox at once: every notification is sent exactly once,
    /// by one of them (SKIP LOCKED and the lease keep them apart).
    @Test func twoSendersAtOnceSendEachNotificationOnce() async throws {
        try await TestLauncher.with(settings: ["WFL_SLACK_TOKEN": "xoxb-test"]) { launcher in
            let watchers = JSONValue.array((0..<100).map { ["slack", .string("C\($0)")] })
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(2), executor: ["name": "Mock"], watchers: watchers), start: true)
            _ = try await launcher.runUntilFinished(view.record.uuid)
            let (first, second) = (CountingChannel(), CountingChannel())
            let senders = [first, second].map { Notifier(store: launcher.store, channels: [.slack: $0], publicURL: nil) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sender in senders {
                    group.addTask { while try await sender.sendDue(limit: 15) > 0 {} }
                }
                try await group.waitForAll()
            }
            let all = first.sent + second.sent
            #expect(all.count == 200, "100 watchers told of the start and of the finish")
            #expect(Set(all).count == 200, "no notification sent twice")
            #expect(!first.sent.isEmpty && !second.sent.isEmpty, "both senders took a share")
            let pending = try await launcher.database.rows("SELECT count(*) FROM notification WHERE sent IS NULL")
            #expect(try pending.first?.decode(Int.self) == 0)
        }
    }
}
