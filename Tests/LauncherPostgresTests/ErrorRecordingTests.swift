import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

@Suite struct ErrorRecordingTests {
    @Test func aBackendOutageIsRecordedOnTheWorkloadNeverOnItsWorkflowsAndNeverStopsOthers() async throws {
        let key = "outage-\(UUID())"
        try await TestLauncher.with(registry: TestStages.registry) { launcher in
            let broken = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(3), executor: ["name": "Switchable", "backend": .string(key)]),
                start: true)
            let healthy = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(3), executor: ["name": "Mock"]), start: true)
            _ = try await launcher.updater.update(workloadID: broken.record.id)  // launched: Running
            TestStages.backends.setDown(key, true)
            try await launcher.database.execute("UPDATE workload SET wake_at = now()")
            let pass = await launcher.updater.runPass()
            #expect(pass.failed == 1)
            #expect(pass.finished == 1)  // the healthy workload finished in the same pass

            let during = try await launcher.service.workload(broken.record.uuid)
            #expect(during.counts == [.running: 3], "an unanswered status query changed workflows")
            #expect(during.record.errorCount == 1)
            #expect(during.record.lastError?.contains("connection refused") == true)
            #expect(during.json["lastError"]?["consecutive"] == 1)
            #expect(try await launcher.service.events(broken.record.uuid, cursor: nil, limit: 100).items.contains { $0.kind == "error" })
            // The failing workload backs off instead of being retried every pass.
            #expect(
                try await launcher.database.scalar(
                    "SELECT count(*) FROM workload WHERE id = \(broken.record.id) AND wake_at > last_error_at") == 1)
            #expect(try await launcher.service.workload(healthy.record.uuid).record.state == "Finished")

            TestStages.backends.setDown(key, false)
            let after = try await launcher.runUntilFinished(broken.record.uuid)
            #expect(after.counts == [.succeeded: 3])
            #expect(after.record.errorCount == 0)
        }
    }

    @Test func transientLaunchFailuresAreRetriedThenSetAsideAsInfrastructureFailures() async throws {
        let options = UpdaterOptions(concurrency: 2, batchSize: 100, tickBudget: .seconds(5), maxLaunchAttempts: 2)
        try await TestLauncher.with(registry: TestStages.registry, options: options) { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(2), executor: ["name": "Flaky"]), start: true)
            _ = try await launcher.updater.update(workloadID: view.record.id)
            let waiting = try await launcher.allWorkflows(view.record.uuid)
            #expect(waiting.allSatisfy { $0.status == .pending && $0.error?.kind == .infrastructure })
            #expect(waiting.first?.error?.message.contains("will retry: HTTP 503") == true)
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(30))
            #expect(done.counts == [.failed: 2])
            let failed = try await launcher.allWorkflows(view.record.uuid)
            #expect(failed.allSatisfy { $0.error?.message == "gave up after 2 launch attempts: HTTP 503 from the backend" })
            #expect(failed.allSatisfy { $0.error?.kind == .infrastructure })
        }
    }

    @Test func undeliverableWorkflowsAreSetAsideAndTheQueueMovesOn() async throws {
        let options = UpdaterOptions(concurrency: 2, batchSize: 100, tickBudget: .seconds(5), maxDeliveryAttempts: 1)
        try await TestLauncher.with(registry: TestStages.registry, options: options) { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["reject": true], ["n": 1], ["retry": true], ["n": 2]]],
                    executor: ["name": "Mock"], sink: ["name": "Picky"]),
                start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid)
            #expect(done.counts == [.succeeded: 4])
            let workflows = try await launcher.allWorkflows(view.record.uuid)
            let setAside = workflows.filter { $0.deliveryError != nil }
            #expect(setAside.count == 2)
            #expect(setAside.contains { $0.deliveryError == "identifier missing from outputs and inputs" })
            #expect(setAside.allSatisfy { $0.json["delivered"] == false })
            #expect(workflows.filter { $0.json["delivered"] == true }.count == 2)
            #expect(
                try await launcher.service.events(view.record.uuid, cursor: nil, limit: 100).items.contains {
                    $0.kind == "delivery-set-aside"
                })
        }
    }

    /// A sink that fails twice and then works: the delivery is retried with backoff and ends
    /// delivered (not set aside, not consumed early).
    @Test func transientSinkFailuresAreRetriedUntilDelivered() async throws {
        var options = TestLauncher.fastOptions
        options.deliveryRetry = RetryPolicy(attempts: 5, initialDelay: 0.05, maxDelay: 0.05)
        try await TestLauncher.with(registry: TestStages.registry, options: options) { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(4), executor: ["name": "Mock"], sink: ["name": "Healing"]),
                start: true)
            // As the update loop does: a failed delivery is recorded on the workload, and retried.
            let done = try await launcher.updateUntil(view.record.uuid, "the workload finished") { $0.record.finished != nil }
            #expect(done.counts == [.succeeded: 4])
            let workflows = try await launcher.allWorkflows(view.record.uuid)
            #expect(workflows.allSatisfy { $0.json["delivered"] == true && $0.deliveryError == nil }, "\(workflows.map(\.json))")
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow WHERE delivery_attempts = 2") == 4)
        }
    }

    /// Deliveries given up while the sink's folder could not be written are put back with
    /// `redeliver` once it can, and delivered; the error said why in one readable line; the
    /// temporary file a killed delivery left behind is cleaned up.
    @Test func setAsideDeliveriesAreRedeliveredWhenTheSinkWorksAgain() async throws {
        var options = TestLauncher.fastOptions
        options.deliveryRetry = RetryPolicy(attempts: 2, initialDelay: 0.05, maxDelay: 0.05)
        try await TestLauncher.with(options: options) { launcher in
            let out = launcher.home.appendingPathComponent("out")
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(3), executor: ["name": "Mock"], sink: ["name": "Directory", "path": .string(out.path)]),
                start: true)
            // A file where the folder should be: every delivery fails.
            try "in the way".write(to: out, atomically: true, encoding: .utf8)
            let failed = try await launcher.updateUntil(view.record.uuid, "deliveries set aside") { $0.record.finished != nil }
            #expect(failed.counts == [.succeeded: 3])
            let setAside = try await launcher.allWorkflows(view.record.uuid)
            #expect(setAside.allSatisfy { $0.json["delivered"] == false }, "\(setAside.map(\.json))")
            let message = try #require(setAside.first?.deliveryError ?? failed.record.lastError)
            #expect(message.contains(out.path) && message.contains("in the way"), "\(message)")
            #expect(message.components(separatedBy: out.path).count == 2, "the path is said once: \(message)")
            #expect(!message.contains("NSCocoaErrorDomain") && !message.contains("UserInfo"), "\(message)")

            // Fixed: the folder exists (with a temporary file a killed delivery left), and redeliver.
            try FileManager.default.removeItem(at: out)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let stale = out.appendingPathComponent(".\(UUID().uuidString.lowercased()).json.999999.tmp")
            try "{".write(to: stale, atomically: true, encoding: .utf8)
            let reopened = try await launcher.service.redeliver(view.record.uuid, request: [:])
            #expect(reopened.record.finished == nil)
            let done = try await launcher.updateUntil(view.record.uuid, "redelivered") { $0.record.finished != nil }
            #expect(done.counts == [.succeeded: 3])
            #expect(try await launcher.allWorkflows(view.record.uuid).allSatisfy { $0.json["delivered"] == true })
            let files = try FileManager.default.contentsOfDirectory(atPath: out.path)
            #expect(files.filter { $0.hasSuffix(".json") }.count == 3 && !files.contains(stale.lastPathComponent), "\(files)")
            // Nothing left to redeliver: a 400 that says so.
            await #expect(throws: LauncherError.self) { _ = try await launcher.service.redeliver(view.record.uuid, request: [:]) }
            #expect(
                try await launcher.service.events(view.record.uuid, cursor: nil, limit: 100).items.contains { $0.kind == "redelivered" })
        }
    }
}
