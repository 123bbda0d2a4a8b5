import Foundation
import LauncherCore
import LauncherPostgres
import LauncherSystem
import LauncherTestSupport
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL cluster of this test's own (scripts/pg-up.sh with another folder and port), so
/// it can be restarted and stopped under a running `wfl serve` without touching the shared one.
struct PrivatePostgres {
    let folder: String
    let port: Int
    var adminURL: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// A fresh cluster (any earlier one in `folder` is stopped and removed first).
    static func start(port: Int, folder: String) async throws -> PrivatePostgres {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var environment = ProcessInfo.processInfo.environment
        environment["WFL_TEST_PG_DIR"] = folder
        environment["WFL_TEST_PG_PORT"] = String(port)
        environment["WFL_TEST_PG_DURABLE"] = "1"  // crashed on purpose: it must keep what it committed
        environment["WFL_TEST_PG_PURGE"] = "1"
        _ = try await Command.run([root.appendingPathComponent("scripts/pg-down.sh").path], environment: environment, timeout: .seconds(60))
        let result = try await Command.run(
            [root.appendingPathComponent("scripts/pg-up.sh").path], environment: environment,
            timeout: .seconds(300))
        guard result.status == 0 else { throw TestFailure("pg-up.sh failed: \(result.stderr)") }
        return PrivatePostgres(folder: folder, port: port)
    }

    /// `pg_ctl` on the cluster, as its owner.
    @discardableResult
    func ctl(_ arguments: [String]) async throws -> Command.Result {
        let bin = try #require((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.sorted().last)
        var command = ["/usr/lib/postgresql/\(bin)/bin/pg_ctl", "-D", "\(folder)/data"] + arguments
        if geteuid() == 0 { command = ["/usr/sbin/runuser", "-u", "postgres", "--"] + command }
        return try await Command.run(command, workingDirectory: "/", timeout: .seconds(120))
    }

    func restartImmediately() async throws {
        try await ctl(["restart", "-m", "immediate", "-w", "-t", "60", "-l", "\(folder)/postgres.log"])
    }
    func stop() async throws { try await ctl(["stop", "-m", "immediate", "-w", "-t", "60"]) }
    func start() async throws { try await ctl(["start", "-w", "-t", "60", "-l", "\(folder)/postgres.log"]) }
}

/// The update loop survives database outages: restarted twenty times under a running serve
/// (immediate restarts and 20-second stops), passes resume within two intervals of the
/// database's return each time, `/health` says 503 quickly while it is away, nothing fails
/// for it, and SIGTERM exits promptly even mid-outage.
@Suite(.serialized) struct OutageTests {
    @Test(.timeLimit(.minutes(10)))
    func passesResumeAfterEveryRestartAndStop() async throws {
        let postgres = try await PrivatePostgres.start(port: 55_433, folder: "/tmp/wfl-test/pg-outage")
        let name = "outage_\(UUID().uuidString.prefix(8).lowercased())"
        func admin(_ sql: String) async throws {
            // A client runs once: one per statement.
            let database = Database(
                configuration: try DatabaseURL.configuration(postgres.adminURL, maxConnections: 2), logger: TestDatabase.logger)
            try await database.run { try await $0.execute(sql) }
        }
        try await admin("CREATE DATABASE \(name)")
        let home = try TestFiles.temporaryFolder("outage")
        let interval = 3.0
        let serve = ServeProcess(
            wfl: WFLBinary(databaseURL: "postgres://postgres@127.0.0.1:\(postgres.port)/\(name)", home: home),
            home: home, interval: interval, extra: ["WFL_DB_TIMEOUT_SECONDS": "3"])
        #expect(await serve.waitHealthy(timeout: .seconds(60)))
        let created = try await serve.http(
            .POST, "/api/v1/exec",
            TestLauncher.request(
                source: TestLauncher.items(30), executor: ["name": "Mock", "delaySeconds": 20]))
        let uuid = try #require(created.json["uuid"]?.stringValue)

        var slowest = 0.0
        let rounds = Int(ProcessInfo.processInfo.environment["WFL_OUTAGE_ROUNDS"] ?? "") ?? 20
        for round in 0..<rounds {
            let long = round % 4 == 3
            if long {
                try await postgres.stop()
                let asked = ContinuousClock.now
                let health = try await serve.http(.GET, "/health", timeout: .seconds(5))
                let answeredIn = (ContinuousClock.now - asked).components
                #expect(health.status == 503, "round \(round): /health said \(health.status) with the database stopped")
                #expect(answeredIn.seconds < 2, "round \(round): /health took \(answeredIn.seconds) s during the outage")
                try await Task.sleep(for: .seconds(20))
                try await postgres.start()
            } else {
                try await postgres.restartImmediately()
            }
            let back = Date()
            var resumed: Date?
            let deadline = back.addingTimeInterval(30)
            while Date() < deadline {
                if let reply = try? await serve.http(.GET, "/health", timeout: .seconds(5)),
                    let text = reply.json["updateLoop"]?["lastHealthyPass"]?.stringValue,
                    let last = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)), last > back
                {
                    resumed = last
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let delay = try #require(resumed, "round \(round) (\(long ? "20 s stop" : "immediate restart")): passes never resumed")
                .timeIntervalSince(back)
            slowest = max(slowest, delay)
            #expect(delay <= 2 * interval, "round \(round) (\(long ? "20 s stop" : "immediate restart")): passes resumed after \(delay) s")
        }
        print("outage test: the slowest resumption took \(String(format: "%.2f", slowest)) s (interval \(interval) s)")

        // Nothing failed for the outages, and the work finishes.
        var view = JSONValue.null
        for _ in 0..<120 {
            view = try await serve.http(.GET, "/api/v1/workload/\(uuid)").json
            if view["finished"] != nil { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        if view["workflows"]?["Succeeded"] != 30 { print("outage test: the workload after the outages: \(view)") }
        #expect(view["workflows"]?["Succeeded"] == 30, "\(view)")

        // SIGTERM mid-outage: the process still exits within seconds.
        try await postgres.stop()
        let asked = ContinuousClock.now
        let result = try await serve.stop()
        let took = (ContinuousClock.now - asked).components.seconds
        #expect(took < 10, "wfl serve took \(took) s to exit on SIGTERM with the database down")
        #expect(!result.timedOut)
        try await postgres.start()
        try await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try await postgres.stop()
    }
}
