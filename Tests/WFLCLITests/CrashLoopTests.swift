import Foundation
import LauncherCore
import LauncherPostgres
import LauncherSystem
import LauncherTestSupport
import NIOHTTP1
import Testing

/// kill -9 of `wfl serve` in the middle of a run, with a poisoned workload stored beside the
/// healthy one, three times over: each new server comes up, quarantines the poisoned workload
/// and finishes the healthy one with every item run exactly once.
@Suite struct CrashLoopTests {
    @Test(.timeLimit(.minutes(5)))
    func killedMidRunWithPoisonedRowsTheServerComesBackAndCarriesOn() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let log = launcher.home.appendingPathComponent("runs.log").path
            var serve = ServeProcess(wfl: wfl, home: launcher.home)
            guard await serve.requireHealthy() else { return }
            let healthy = try await serve.http(
                .POST, "/api/v1/exec",
                TestLauncher.request(
                    source: TestLauncher.items(40),
                    executor: ["name": "Local", "command": .string("echo {{n}} >> \(log); sleep 0.3"), "maxParallel": 4]))
            let uuid = try #require(healthy.json["uuid"]?.stringValue)
            // Created unstarted, so the loop cannot finish it before the poison is written; then
            // started by the same statement.
            let poisoned = try await serve.http(
                .POST, "/api/v1/create", TestLauncher.request(source: TestLauncher.items(3), executor: ["name": "Mock"]))
            let poisonedID = try #require(poisoned.json["uuid"]?.stringValue)
            try await launcher.database.execute(
                """
                UPDATE workload SET executor_config = '{"name": "Mock", "delaySeconds": 1e300}', started = now(), wake_at = now()
                WHERE uuid = '\(poisonedID)'
                """)
            for round in 0..<3 {
                try await Task.sleep(for: .milliseconds(1200))
                _ = await serve.crash()
                serve = ServeProcess(wfl: wfl, home: launcher.home)
                #expect(await serve.waitHealthy(), "round \(round): the server did not come back")
            }
            var view = JSONValue.null
            for _ in 0..<200 {
                view = try await serve.http(.GET, "/api/v1/workload/\(uuid)").json
                if view["finished"] != nil { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(view["workflows"]?["Succeeded"] == 40, "\(view)")
            let runs = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            #expect(runs.count == 40 && Set(runs).count == 40, "items ran \(runs.count) times for 40")
            let bad = try await serve.http(.GET, "/api/v1/workload/\(poisonedID)").json
            #expect(bad["quarantined"] != nil, "\(bad)")
            let result = try await serve.stop()
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        }
    }
}
