import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

@Suite struct LifecycleTests {
    @Test func createStartRunFinish() async throws {
        try await TestLauncher.with { launcher in
            let created = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(5), executor: ["name": "Mock"]), start: false)
            #expect(created.record.state == "Created")
            #expect(created.record.sourceConfig == ["name": "Items", "itemCount": 5])
            #expect(created.record.labels == ["project:test"])

            // A pass does not touch an unstarted workload.
            let idle = await launcher.updater.runPass()
            #expect(idle.due == 0)
            #expect(try await launcher.allWorkflows(created.record.uuid).isEmpty)

            let started = try await launcher.service.start(created.record.uuid)
            #expect(started.record.started != nil)
            let again = try await launcher.service.start(created.record.uuid)
            #expect(again.record.started == started.record.started)

            let pass = await launcher.updater.runPass()
            #expect(pass.updated == 1 && pass.finished == 1)
            let done = try await launcher.service.workload(created.record.uuid)
            #expect(done.record.state == "Finished")
            #expect(done.counts == [.succeeded: 5])
            let workflows = try await launcher.allWorkflows(created.record.uuid)
            #expect(Set(workflows.map { $0.inputs["n"]?.intValue ?? -1 }) == Set(0..<5))
            #expect(workflows.allSatisfy { $0.outputs == $0.inputs && $0.consumed != nil && $0.attempt == 1 })
            let kinds = try await launcher.service.events(created.record.uuid, cursor: nil, limit: 100).items.map(\.kind)
            #expect(kinds == ["created", "started", "launched", "workflows", "delivered", "finished"])
        }
    }

    @Test func theLoopFinishesAThousandMockItems() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(1000), executor: ["name": "Mock"]), start: true)
            var passes = 0
            while try await launcher.service.workload(view.record.uuid).record.finished == nil {
                _ = await launcher.updater.runPass()
                passes += 1
                #expect(passes < 100)
                if passes >= 100 { break }
            }
            let done = try await launcher.service.workload(view.record.uuid)
            #expect(done.counts == [.succeeded: 1000])
            // One workflow per item, every one delivered.
            #expect(try await launcher.database.scalar("SELECT count(DISTINCT source_item_id) FROM workflow") == 1000)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow") == 1000)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow WHERE consumed IS NULL") == 0)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM source_item WHERE consumed IS NULL") == 0)
        }
    }

    @Test func stopKeepsDrainingWhatIsQueuedAndStopBeforeStartIsRefused() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(3), executor: ["name": "Mock"]), start: false)
            await #expect(throws: LauncherError.self) { try await launcher.service.stop(view.record.uuid) }
            _ = try await launcher.service.start(view.record.uuid)
            let stopped = try await launcher.service.stop(view.record.uuid)
            #expect(stopped.record.state == "Stopped")
            let done = try await launcher.runUntilFinished(view.record.uuid)
            #expect(done.counts == [.succeeded: 3])
            #expect(done.record.stopped == stopped.record.stopped)
        }
    }

    @Test func badRequestsWriteNothing() async throws {
        try await TestLauncher.with { launcher in
            let bad: [JSONValue] = [
                TestLauncher.request(source: ["name": "Items", "items": [["a": 1], "x"]], executor: ["name": "Mock"]),
                TestLauncher.request(source: TestLauncher.items(2), executor: ["name": "Local", "command": "echo {{missing}}"]),
                TestLauncher.request(
                    source: TestLauncher.items(2), executor: ["name": "Mock"], sink: ["name": "Directory", "path": "/proc/forbidden"]),
                ["project": "p", "source": TestLauncher.items(1), "executor": ["name": "Mock"], "sink": ["name": "None"], "extra": 1],
            ]
            for request in bad {
                await #expect(throws: LauncherError.self, "\(request)") {
                    try await launcher.service.create(request, start: true)
                }
            }
            let workloads = try await launcher.database.scalar("SELECT count(*) FROM workload")
            let items = try await launcher.database.scalar("SELECT count(*) FROM source_item")
            let events = try await launcher.database.scalar("SELECT count(*) FROM workload_event")
            #expect(workloads == 0 && items == 0 && events == 0)
        }
    }

    @Test func listingByProjectPaginates() async throws {
        try await TestLauncher.with { launcher in
            for i in 0..<5 {
                _ = try await launcher.service.create(
                    TestLauncher.request(project: i < 3 ? "alpha" : "beta", source: TestLauncher.items(1), executor: ["name": "Mock"]),
                    start: false)
            }
            let first = try await launcher.service.workloads(project: "alpha", cursor: nil, limit: 2)
            #expect(first.items.count == 2 && first.nextCursor != nil)
            let second = try await launcher.service.workloads(project: "alpha", cursor: first.nextCursor, limit: 2)
            #expect(second.items.count == 1 && second.nextCursor == nil)
            #expect(Set((first.items + second.items).map(\.record.project)) == ["alpha"])
            #expect(try await launcher.service.workloads(project: nil, cursor: nil, limit: 10).items.count == 5)
            await #expect(throws: LauncherError.self) { try await launcher.service.workloads(project: nil, cursor: "bogus", limit: 1) }
            await #expect(throws: LauncherError.self) { try await launcher.service.workloads(project: nil, cursor: nil, limit: 0) }
        }
    }

    @Test func workflowsPaginateAndFilterByStatus() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(25), executor: ["name": "Mock", "failWhen": ["odd": true]]),
                start: true)
            _ = view
            let uuid = view.record.uuid
            _ = try await launcher.runUntilFinished(uuid)
            var seen: [UUID] = []
            var cursor: String?
            repeat {
                let page = try await launcher.service.workflows(
                    uuid, status: nil, submission: nil, includeRetried: false, cursor: cursor, limit: 10)
                seen += page.items.map(\.uuid)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen.count == 25 && Set(seen).count == 25)
            let succeeded = try await launcher.allWorkflows(uuid, status: "succeeded")
            #expect(succeeded.count == 25)
            await #expect(throws: LauncherError.self) {
                try await launcher.service.workflows(uuid, status: "Done", submission: nil, includeRetried: false, cursor: nil, limit: nil)
            }
            let submission = try #require(succeeded.first?.submission)
            let bySubmission = try await launcher.service.workflows(
                uuid, status: nil, submission: submission, includeRetried: false, cursor: nil, limit: 100)
            #expect(!bySubmission.items.isEmpty && bySubmission.items.allSatisfy { $0.submission == submission })
        }
    }

    @Test func anIdleWorkloadSleepsUntilItsWorkflowsCanChange() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock", "delaySeconds": 3600]),
                start: true)
            _ = await launcher.updater.runPass()  // launches
            _ = await launcher.updater.runPass()  // polls: nothing can change for an hour
            #expect(try await launcher.service.workload(view.record.uuid).counts == [.running: 1])
            let pass = await launcher.updater.runPass()
            #expect(pass.due == 0)
            let wake = try await launcher.database.scalar("SELECT extract(epoch FROM wake_at - now())::int FROM workload")
            #expect((3500...3600).contains(wake ?? 0))
        }
    }

    @Test func unknownWorkloadIsNotFound() async throws {
        try await TestLauncher.with { launcher in
            do {
                _ = try await launcher.service.workload(UUID())
                Issue.record("found a workload that does not exist")
            } catch let error as LauncherError {
                #expect(error.kind == .notFound)
                #expect(error.message.hasPrefix("No workload found matching uuid"))
            }
        }
    }
}
