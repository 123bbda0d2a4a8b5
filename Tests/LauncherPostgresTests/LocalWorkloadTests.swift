import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

@Suite struct LocalWorkloadTests {
    @Test func successAndFailureThroughTheWholeChainIntoADirectory() async throws {
        try await TestLauncher.with { launcher in
            let out = launcher.home.appendingPathComponent("delivered")
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["sample": "a", "code": 0], ["sample": "b", "code": 4]]],
                    executor: [
                        "name": "Local", "command": #"echo "{\"len\": ${#sample}}" > "$WFL_OUTPUTS"; echo oops >&2; exit {{code}}"#,
                    ],
                    sink: ["name": "Directory", "path": .string(out.path)]),
                start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid)
            #expect(done.counts == [.succeeded: 1, .failed: 1])
            let workflows = try await launcher.allWorkflows(view.record.uuid)
            let failed = try #require(workflows.first { $0.status == .failed })
            #expect(failed.error?.message == "command exited with code 4: oops")
            #expect(failed.details["exitCode"] == 4)
            let succeeded = try #require(workflows.first { $0.status == .succeeded })
            #expect(succeeded.outputs == ["len": 1])
            let files = try FileManager.default.contentsOfDirectory(atPath: out.path)
            #expect(files == ["\(succeeded.uuid.uuidString.lowercased()).json"])
        }
    }

    @Test func maxParallelIsRespected() async throws {
        try await TestLauncher.with { launcher in
            let log = launcher.home.appendingPathComponent("concurrency.log").path
            // Each command records how many siblings run at the same moment.
            let command = "echo start >> \(log); sleep 0.4; echo end >> \(log)"
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(6), executor: ["name": "Local", "command": .string(command), "maxParallel": 2]),
                start: true)
            _ = try await launcher.runUntilFinished(view.record.uuid, pause: .milliseconds(20))
            var running = 0, peak = 0
            for line in try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n") {
                running += line == "start" ? 1 : -1
                peak = max(peak, running)
            }
            #expect(peak <= 2)
            #expect(peak == 2)
        }
    }

    @Test func aNewUpdaterAfterARestartPicksUpRunningWorkIdempotently() async throws {
        try await TestLauncher.with { launcher in
            let log = launcher.home.appendingPathComponent("runs.log").path
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(4),
                    executor: ["name": "Local", "command": .string("echo {{n}} >> \(log); sleep 1"), "maxParallel": 4]),
                start: true)
            _ = try await launcher.updater.update(workloadID: view.record.id)
            #expect(try await launcher.service.workload(view.record.uuid).counts[.submitted] == 4)
            // The launcher "restarts": another process's updater takes over and finishes.
            try await launcher.withSecondUpdater { second in
                while try await launcher.service.workload(view.record.uuid).record.finished == nil {
                    _ = try await second.update(workloadID: view.record.id)
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(try await launcher.service.workload(view.record.uuid).counts == [.succeeded: 4])
            #expect(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").sorted() == ["0", "1", "2", "3"])
        }
    }
}
