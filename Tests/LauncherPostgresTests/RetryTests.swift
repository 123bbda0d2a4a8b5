import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

@Suite struct RetryTests {
    /// 10 items, those with odd=true fail; run to the end.
    func finishedWorkload(_ launcher: TestLauncher) async throws -> UUID {
        let view = try await launcher.service.create(
            TestLauncher.request(
                source: TestLauncher.items(10) { ["n": .int(Int64($0)), "odd": .bool($0 % 2 == 1)] },
                executor: ["name": "Mock", "failWhen": ["odd": true]]),
            start: true)
        let done = try await launcher.runUntilFinished(view.record.uuid)
        #expect(done.counts == [.succeeded: 5, .failed: 5])
        return view.record.uuid
    }

    func launcherError(_ body: () async throws -> Void) async -> LauncherError? {
        do { try await body() } catch let error as LauncherError { return error } catch { Issue.record("\(error)") }
        return nil
    }

    @Test func retryRelaunchesOnlyTheMatchingWorkflowsAsLinkedNewAttempts() async throws {
        try await TestLauncher.with { launcher in
            let uuid = try await finishedWorkload(launcher)
            let failedBefore = try await launcher.allWorkflows(uuid, status: "Failed")
            let created = try await launcher.service.retry(uuid, request: ["status": "Failed"])
            #expect(created.count == 5)
            #expect(created.allSatisfy { $0.status == .pending && $0.attempt == 2 && $0.retryOf != nil })
            #expect(Set(created.compactMap(\.retryOf)) == Set(failedBefore.map(\.uuid)))
            #expect(Set(created.map(\.inputs)) == Set(failedBefore.map(\.inputs)))

            // The finished workload is active again.
            let reopened = try await launcher.service.workload(uuid)
            #expect(reopened.record.finished == nil)
            #expect(reopened.counts == [.succeeded: 5, .pending: 5])

            // Originals drop out of default listings but stay queryable, linked to their retry.
            #expect(try await launcher.allWorkflows(uuid).count == 10)
            let everything = try await launcher.allWorkflows(uuid, includeRetried: true)
            #expect(everything.count == 15)
            for original in everything where original.retriedBy != nil {
                #expect(created.contains { $0.uuid == original.retriedBy && $0.retryOf == original.uuid })
            }

            // The succeeded ones were not relaunched; the retries fail again (same inputs).
            let done = try await launcher.runUntilFinished(uuid)
            #expect(done.counts == [.succeeded: 5, .failed: 5])
            #expect(try await launcher.allWorkflows(uuid, status: "Failed").allSatisfy { $0.attempt == 2 })
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow WHERE attempt = 2 AND status = 'Succeeded'") == 0)
            let kinds = try await launcher.service.events(uuid, cursor: nil, limit: 100).items.map(\.kind)
            #expect(kinds.filter { $0 == "finished" }.count == 2 && kinds.contains("retried"))
        }
    }

    @Test func retryByUUIDsAndBySubmission() async throws {
        try await TestLauncher.with { launcher in
            let uuid = try await finishedWorkload(launcher)
            let succeeded = try await launcher.allWorkflows(uuid, status: "Succeeded")
            let one = try await launcher.service.retry(uuid, request: ["uuids": [.string(succeeded[0].uuid.uuidString)]])
            #expect(one.count == 1 && one[0].retryOf == succeeded[0].uuid && one[0].inputs == succeeded[0].inputs)

            // Retrying the same original again is refused, naming it.
            let again = await launcherError {
                _ = try await launcher.service.retry(uuid, request: ["uuids": [.string(succeeded[0].uuid.uuidString)]])
            }
            #expect(again?.details["field"] == "uuids[0]")
            #expect(again?.message.contains("already retried") == true)

            _ = try await launcher.runUntilFinished(uuid)
            let submission = try #require(one[0].submission)
            let bySubmission = try await launcher.service.retry(uuid, request: ["submission": .string(submission)])
            #expect(bySubmission.count == 1 && bySubmission[0].attempt == 3)
        }
    }

    @Test func retryRefusalsAreClear() async throws {
        try await TestLauncher.with { launcher in
            let uuid = try await finishedWorkload(launcher)
            let noFilter = await launcherError { _ = try await launcher.service.retry(uuid, request: [:]) }
            #expect(noFilter?.kind == .badRequest)
            #expect(noFilter?.message.contains("at least one filter") == true)

            let nonFinal = await launcherError { _ = try await launcher.service.retry(uuid, request: ["status": "Running"]) }
            #expect(nonFinal?.details["field"] == "status")
            #expect(nonFinal?.message.contains("Retry unsupported for requested workflow status") == true)

            let nothing = await launcherError { _ = try await launcher.service.retry(uuid, request: ["status": "Aborted"]) }
            #expect(nothing?.message == "No workflows to retry for workload and requested workflow filters.")

            let stranger = await launcherError {
                _ = try await launcher.service.retry(uuid, request: ["uuids": [.string(UUID().uuidString)]])
            }
            #expect(stranger?.details["field"] == "uuids[0]")

            let notAUUID = await launcherError { _ = try await launcher.service.retry(uuid, request: ["uuids": ["nope"]]) }
            #expect(notAUUID?.details["field"] == "uuids[0]")

            let unknownField = await launcherError { _ = try await launcher.service.retry(uuid, request: ["state": "Failed"]) }
            #expect(unknownField?.details["field"] == "state")

            let overrides = await launcherError {
                _ = try await launcher.service.retry(uuid, request: ["status": "Failed", "overrides": ["memory": "4G"]])
            }
            #expect(overrides?.details["field"] == "overrides.memory")
            #expect(overrides?.message.contains("takes no retry overrides") == true)

            let unknown = await launcherError { _ = try await launcher.service.retry(UUID(), request: ["status": "Failed"]) }
            #expect(unknown?.kind == .notFound)

            // Nothing was written by any refusal.
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow") == 10)
        }
    }

    @Test func retryBeforeStartIsRefused() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock"]), start: false)
            let error = await launcherError { _ = try await launcher.service.retry(view.record.uuid, request: ["status": "Failed"]) }
            #expect(error?.message == "Cannot retry workload before it's been started.")
        }
    }

    @Test func retryOverridesAreRecordedAndUsed() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Local", "command": "sleep 2", "timeout": 0.5]),
                start: true)
            let first = try await launcher.runUntilFinished(view.record.uuid)
            #expect(first.counts == [.failed: 1])
            #expect(try await launcher.allWorkflows(view.record.uuid)[0].error?.message.contains("timed out") == true)
            let created = try await launcher.service.retry(view.record.uuid, request: ["status": "Failed", "overrides": ["timeout": 30]])
            #expect(created[0].overrides == ["timeout": 30.0])
            let second = try await launcher.runUntilFinished(view.record.uuid)
            #expect(second.counts == [.succeeded: 1])
        }
    }
}
