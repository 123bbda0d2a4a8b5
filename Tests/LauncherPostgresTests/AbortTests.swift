import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

@Suite struct AbortTests {
    @Test func abortKillsRunningProcessesAndNeverLaunchesTheRest() async throws {
        try await TestLauncher.with { launcher in
            let marker = launcher.home.appendingPathComponent("started.log").path
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(5),
                    executor: ["name": "Local", "command": .string("echo $$ >> \(marker); exec sleep 60"), "maxParallel": 2]),
                start: true)
            let uuid = view.record.uuid
            try await launcher.updateUntil(uuid, "two running") { $0.counts[.running] == 2 }
            let pids = try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
            #expect(pids.count == 2)

            let aborted = try await launcher.service.abort(uuid)
            #expect(aborted.record.aborted != nil && aborted.record.stopped != nil)
            #expect(aborted.record.finished != nil, "abort completes at once when no other updater holds the workload")
            #expect(aborted.counts == [.aborted: 5])
            for pid in pids {
                let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ")[2]
                #expect(state == nil || state == "Z", "process \(pid) survived the abort")
            }
            let neverLaunched = try await launcher.allWorkflows(uuid).filter { $0.submitted == nil }
            #expect(neverLaunched.count == 3)
            #expect(neverLaunched.allSatisfy { $0.error?.message == "aborted before it was launched" })

            // Aborted workflows can be retried; they run again (here: into a timeout).
            let retried = try await launcher.service.retry(uuid, request: ["status": "Aborted", "overrides": ["timeout": 0.2]])
            #expect(retried.count == 5)
            let done = try await launcher.runUntilFinished(uuid)
            #expect(done.counts == [.failed: 5])
            #expect(try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n").count == 7)
        }
    }

    @Test func abortOfAMockWorkloadAndOfAnUnstartedOne() async throws {
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(3), executor: ["name": "Mock", "delaySeconds": 600]),
                start: true)
            _ = await launcher.updater.runPass()
            #expect(try await launcher.service.workload(view.record.uuid).counts == [.running: 3])
            let aborted = try await launcher.service.abort(view.record.uuid)
            #expect(aborted.counts == [.aborted: 3])
            #expect(aborted.record.state == "Aborted")

            let unstarted = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock"]), start: false)
            await #expect(throws: LauncherError.self) { try await launcher.service.abort(unstarted.record.uuid) }
        }
    }
}
