import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import NIOHTTP1
import Testing

/// The dashboard in a real browser (Chromium from Debian, driven by Playwright from PyPI;
/// scripts/test.sh installs both): Tests/browser/dashboard.py checks the pages against a
/// database seeded here and writes a screenshot of each page to .build/dashboard-screenshots.
@Suite struct DashboardBrowserTests {
    @Test func theDashboardShowsTheSeededNumbersAndActsForOperatorsOnly() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            _ = try await wfl.run(["migrate"])
            let operatorToken = try await wfl.run(["token", "create", "--name", "ui-operator", "--role", "operator"]).stdout
            let viewerToken = try await wfl.run(["token", "create", "--name", "ui-viewer", "--role", "viewer"]).stdout
            let serve = ServeProcess(wfl: wfl, home: launcher.home, interval: 0.3, arguments: ["--auth"])
            guard await serve.requireHealthy() else { return }
            let auth = [("Authorization", "Bearer " + operatorToken.trimmingCharacters(in: .whitespacesAndNewlines))]
            let finished = try await serve.http(
                .POST, "/api/v1/exec",
                TestLauncher.request(
                    source: TestLauncher.items(6) { ["n": .int(Int64($0)), "bad": .bool($0 == 2 || $0 == 5)] },
                    executor: ["name": "Mock", "failWhen": ["bad": true]], labels: ["team:imaging"]),
                headers: auth)
            let finishedUUID = try #require(finished.json["uuid"]?.stringValue, "\(finished.text)")
            let running = try await serve.http(
                .POST, "/api/v1/exec",
                TestLauncher.request(source: TestLauncher.items(3), executor: ["name": "Mock", "delaySeconds": 900]),
                headers: auth)
            let runningUUID = try #require(running.json["uuid"]?.stringValue, "\(running.text)")
            let live = try await serve.http(
                .POST, "/api/v1/exec",
                TestLauncher.request(source: TestLauncher.items(2), executor: ["name": "Mock", "delaySeconds": 900]),
                headers: auth)
            let liveUUID = try #require(live.json["uuid"]?.stringValue, "\(live.text)")
            var failedCount = 0
            for _ in 0..<200 {
                let workload = try await serve.http(.GET, "/api/v1/workload/\(finishedUUID)", headers: auth).json
                failedCount = workload["workflows"]?["Failed"]?.intValue.map(Int.init) ?? 0
                if workload["finished"] != nil { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(failedCount == 2, "the seed: two failed of six")

            let shots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "../../.build/dashboard-screenshots"
            )
            .standardized
            try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../browser/dashboard.py")
                .standardized
            let result = try await Command.run(
                ["python3", script.path],
                environment: ProcessInfo.processInfo.environment.merging([
                    "WFL_BASE": serve.base, "WFL_OPERATOR_TOKEN": operatorToken.trimmingCharacters(in: .whitespacesAndNewlines),
                    "WFL_VIEWER_TOKEN": viewerToken.trimmingCharacters(in: .whitespacesAndNewlines), "WFL_FINISHED": finishedUUID,
                    "WFL_RUNNING": runningUUID, "WFL_LIVE": liveUUID, "WFL_SHOTS": shots.path,
                ]) { _, new in new }, timeout: .seconds(300))
            #expect(result.status == 0, "the browser checks failed:\n\(result.stdout.suffix(6000))\n\(result.stderr.suffix(3000))")
            for name in ["workloads", "workload", "workflows", "workflow", "abort-confirm", "workload-viewer"] {
                let size =
                    (try? FileManager.default.attributesOfItem(atPath: shots.appendingPathComponent("\(name).png").path)[.size] as? Int)
                    ?? 0
                #expect(size > 10_000, "screenshot \(name).png: \(size) bytes")
            }
            #expect(try await serve.stop().status == 0)
        }
    }
}
