import Foundation
import LauncherCore
import LauncherPostgres
import LauncherSystem
import LauncherTestSupport
import Testing

/// The `wfl` executable, driven as a user drives it.
struct WFLBinary {
    static var path: String {
        if let path = ProcessInfo.processInfo.environment["WFL_BINARY"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/wfl").path
    }

    let environment: [String: String]

    init(databaseURL: String?, home: URL) {
        var environment = ProcessInfo.processInfo.environment
        environment["WFL_HOME"] = home.path
        environment["WFL_DATABASE_URL"] = databaseURL
        environment["WFL_CREATOR"] = "cli-test"
        if databaseURL == nil { environment.removeValue(forKey: "WFL_DATABASE_URL") }
        self.environment = environment
    }

    @discardableResult
    func run(_ arguments: [String], extra: [String: String] = [:], timeout: Duration = .seconds(120)) async throws -> Command.Result {
        try await Command.run(
            [Self.path] + arguments, environment: environment.merging(extra) { _, b in b },
            workingDirectory: FileManager.default.temporaryDirectory.path, timeout: timeout)
    }

    func json(_ arguments: [String]) async throws -> JSONValue {
        let result = try await run(arguments + ["--json"])
        guard result.status == 0 else { throw TestFailure("wfl \(arguments) exited \(result.status): \(result.stderr)") }
        return try JSONValue.parse(result.stdout)
    }
}

func writeRequest(_ request: JSONValue, in folder: URL) throws -> String {
    let file = folder.appendingPathComponent("request-\(UUID().uuidString.prefix(6)).json")
    try Data(request.serialized(pretty: true).utf8).write(to: file)
    return file.path
}

@Suite struct CLILifecycleTests {
    @Test func createStartUpdateListRetryThroughTheCLI() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let file = try writeRequest(
                TestLauncher.request(
                    source: TestLauncher.items(4), executor: ["name": "Mock", "failWhen": ["n": 2]]), in: launcher.home)

            let created = try await wfl.json(["create", file])
            let uuid = try #require(created["uuid"]?.stringValue)
            #expect(created["creator"] == "cli-test")
            #expect(created["started"] == nil)
            #expect(try await wfl.json(["start", uuid])["started"] != nil)

            for _ in 0..<20 {
                let pass = try await wfl.run(["update"])
                #expect(pass.status == 0, "\(pass.stderr)")
                if try await wfl.json(["workloads", uuid])["finished"] != nil { break }
            }
            let shown = try await wfl.json(["workloads", uuid])
            #expect(shown["workflows"]?["Succeeded"] == 3 && shown["workflows"]?["Failed"] == 1)

            let table = try await wfl.run(["workflows", uuid, "--status", "failed"])
            #expect(table.status == 0)
            #expect(table.stdout.contains("Failed") && table.stdout.contains("Mock failure"))
            #expect(try await wfl.json(["workflows", uuid]).arrayValue?.count == 4)

            let listed = try await wfl.run(["workloads", "--project", "test"])
            #expect(listed.stdout.contains(uuid) && listed.stdout.contains("Finished"))

            let retry = try await wfl.run(["retry", uuid, "--status", "Failed"])
            #expect(retry.status == 0, "\(retry.stderr)")
            #expect(retry.stdout.contains("Retrying 1 workflow(s)"))
            let events = try await wfl.run(["events", uuid])
            #expect(events.stdout.contains("retried"))
        }
    }

    @Test func execWaitRunsLocalWorkToTheEndAndReportsFailuresInItsExitCode() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let good = try writeRequest(
                TestLauncher.request(
                    source: TestLauncher.items(3), executor: ["name": "Local", "command": "echo {{n}}"]), in: launcher.home)
            let ok = try await wfl.run(["exec", good, "--wait", "--interval", "0.2"])
            #expect(ok.status == 0, "\(ok.stderr)")
            #expect(ok.stdout.contains("3 Succeeded"))
            #expect(ok.stdout.contains("(3/3 done)"))

            let bad = try writeRequest(
                TestLauncher.request(
                    source: TestLauncher.items(2), executor: ["name": "Local", "command": "exit {{n}}"]), in: launcher.home)
            let failed = try await wfl.run(["exec", bad, "--wait", "--interval", "0.2"])
            #expect(failed.status == 3)
            #expect(failed.stdout.contains("1 Succeeded, 1 Failed"))
        }
    }

    @Test func abortFromTheCLIKillsLocalWork() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let file = try writeRequest(
                TestLauncher.request(
                    source: TestLauncher.items(2), executor: ["name": "Local", "command": "sleep 60"]), in: launcher.home)
            let created = try await wfl.json(["exec", file])
            let uuid = try #require(created["uuid"]?.stringValue)
            try await wfl.run(["update"])
            // The processes run: their pids are recorded in their work folders.
            var pids: [Int32] = []
            for _ in 0..<50 where pids.count < 2 {
                try await Task.sleep(for: .milliseconds(100))
                let folders = (try? FileManager.default.contentsOfDirectory(atPath: "\(launcher.home.path)/work/\(uuid)")) ?? []
                pids = folders.compactMap { try? String(contentsOfFile: "\(launcher.home.path)/work/\(uuid)/\($0)/pid", encoding: .utf8) }
                    .compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
            #expect(pids.count == 2 && pids.allSatisfy { kill($0, 0) == 0 }, "the commands are not running: \(pids)")
            let aborted = try await wfl.json(["abort", uuid])
            #expect(aborted["workflows"]?["Aborted"] == 2)
            #expect(aborted["state"] == "Aborted")
            // And the processes are gone.
            var alive = pids
            for _ in 0..<100 where !alive.isEmpty {
                alive = alive.filter { pid in
                    let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2)
                        .first
                    return state != nil && state != "Z"
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(alive.isEmpty, "aborted processes still run: \(alive)")
        }
    }
}

@Suite struct CLIErrorTests {
    @Test func badInputExitsWithTwoAndSaysWhy() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let broken = launcher.home.appendingPathComponent("broken.json")
            try Data("{\"project\": \"p\",\n \"source\": }".utf8).write(to: broken)
            let cases: [([String], String)] = [
                (["create", broken.path], "not valid JSON: unexpected '}'; expected a value at line 2, column 12"),
                (["create", "/nonexistent.json"], "cannot read /nonexistent.json"),
                (
                    [
                        "create",
                        try writeRequest(
                            ["project": "p", "source": ["name": "Files"], "executor": ["name": "Mock"], "sink": ["name": "None"]],
                            in: launcher.home),
                    ],
                    "source.name: unknown source \"Files\"; known sources: Items"
                ),
                (
                    [
                        "create",
                        try writeRequest(
                            TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock", "delay": 1]), in: launcher.home),
                    ],
                    "executor.delay: unknown field for the Mock executor; known fields: delaySeconds, failWhen"
                ),
                (["start", UUID().uuidString], "No workload found matching uuid"),
                (["start", "not-a-uuid"], "uuid: \"not-a-uuid\" is not a UUID"),
                (["workflows", UUID().uuidString, "--status", "Bogus"], "unknown status \"Bogus\""),
                (["retry", UUID().uuidString], "at least one filter"),
                (["workloads", "--limit", "0"], "limit: must be between 1 and 1000"),
                (["frobnicate"], "Unexpected argument 'frobnicate'"),
                (["exec", "x.json", "--interval", "0"], "--interval must be between 0 and 3600 seconds"),
                (["logs", "not-a-uuid"], "WORKFLOW: \"not-a-uuid\" is not a UUID"),
                (["logs", UUID().uuidString, "--tail", "0"], "--tail must be between 1 and 10000"),
                (["start"], "Missing expected argument"),
            ]
            for (arguments, message) in cases {
                let result = try await wfl.run(arguments)
                #expect(result.status == 2, "wfl \(arguments) exited \(result.status): \(result.stderr)")
                #expect(result.stderr.contains(message), "wfl \(arguments) said: \(result.stderr)")
            }
            let help = try await wfl.run(["--help"])
            #expect(help.status == 0 && help.stdout.contains("SUBCOMMANDS"))
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workload") == 0)
        }
    }

    @Test func anUnmigratedDatabaseIsRefusedUntilMigrated() async throws {
        try await TestDatabase.with(migrate: false) { _, url in
            let home = try TestFiles.temporaryFolder("cli")
            let wfl = WFLBinary(databaseURL: url, home: home)
            let refused = try await wfl.run(["workloads"])
            #expect(refused.status == 1)
            let all = try Migrator.bundled().map(\.name).joined(separator: ", ")
            #expect(all.hasPrefix("0001_init, 0002_async_delivery, "))
            #expect(refused.stderr.contains("needs migrations (\(all)); run `wfl migrate`"))
            #expect(try await wfl.run(["migrate", "--dry-run"]).stdout.contains("Would apply: \(all)"))
            #expect(try await wfl.run(["migrate"]).stdout.contains("Applied: \(all)"))
            #expect(try await wfl.run(["migrate"]).stdout.contains("up to date"))
            #expect(try await wfl.run(["workloads"]).stdout.contains("No workloads."))
        }
    }

    @Test func anUnreachableDatabaseIsAClearFailure() async throws {
        let home = try TestFiles.temporaryFolder("cli")
        let wfl = WFLBinary(databaseURL: "postgres://nobody@127.0.0.1:1/none", home: home)
        let result = try await wfl.run(["workloads"], timeout: .seconds(60))
        #expect(result.status == 1)
        #expect(result.stderr.contains("database unreachable"))
    }
}

@Suite struct CLICrashRecoveryTests {
    @Test func aCrashBetweenLaunchAndDatabaseWriteNeverLaunchesTwice() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let runs = launcher.home.appendingPathComponent("runs.log").path
            let file = try writeRequest(
                TestLauncher.request(
                    source: TestLauncher.items(5),
                    executor: ["name": "Local", "command": .string("echo {{n}} >> \(runs)"), "maxParallel": 5]), in: launcher.home)
            let created = try await wfl.json(["exec", file])
            let uuid = try #require(created["uuid"]?.stringValue)

            // The backend (here: local processes) accepted the batch; the process dies before
            // it records anything.
            let crashed = try await wfl.run(["update"], extra: ["WFL_FAULT": "after-submit"])
            #expect(crashed.status == 97)
            #expect(try await wfl.json(["workloads", uuid])["workflows"]?["Pending"] == 5)

            // A restart finds them at the backend instead of launching again.
            for _ in 0..<40 {
                try await wfl.run(["update"])
                if try await wfl.json(["workloads", uuid])["finished"] != nil { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try await wfl.json(["workloads", uuid])["workflows"]?["Succeeded"] == 5)
            let lines = try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").sorted()
            #expect(lines == ["0", "1", "2", "3", "4"])
        }
    }
}

@Suite(.serialized) struct CLIEmbeddedDatabaseTests {
    func serverRunning(for home: URL) -> Bool {
        let data = home.appendingPathComponent("postgres/data").path
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { entry in
            guard Int(entry) != nil, let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)
            else { return false }
            let state = stat.split(separator: " ").dropFirst(2).first
            return state != "Z" && String(decoding: cmdline, as: UTF8.self).contains(data)
        }
    }

    @Test func twoProcessesShareTheEmbeddedDatabaseAndTheLastOneStopsIt() async throws {
        let home = try TestFiles.temporaryFolder("embedded")
        defer { try? FileManager.default.removeItem(at: home) }
        if geteuid() == 0 { chmod(home.path, 0o755) }
        let wfl = WFLBinary(databaseURL: nil, home: home)
        let file = try writeRequest(
            TestLauncher.request(
                project: "embedded", source: TestLauncher.items(2), executor: ["name": "Local", "command": "sleep 15"]), in: home)

        async let waiting = wfl.run(["exec", file, "--wait", "--interval", "0.3"])
        // While the first process runs its workload (long enough to outlast a loaded machine), a second one
        // reads the same database.
        var seen = false
        for _ in 0..<60 where !seen {
            try await Task.sleep(for: .milliseconds(250))
            let listed = try await wfl.run(["workloads", "--project", "embedded"])
            seen = listed.status == 0 && listed.stdout.contains("embedded")
        }
        #expect(seen, "the second wfl did not see the first one's workload")
        #expect(serverRunning(for: home))
        let finished = try await waiting
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(finished.stdout.contains("2 Succeeded"))
        #expect(!serverRunning(for: home), "the embedded PostgreSQL outlived its last user")

        // It starts again on demand, with the data kept.
        let again = try await wfl.run(["workloads", "--json"])
        #expect(try JSONValue.parse(again.stdout).arrayValue?.count == 1)
        #expect(try await wfl.run(["db", "status"]).stdout.contains("stopped"))
    }

    @Test func aMissingServerProgramFolderIsNamed() async throws {
        let home = try TestFiles.temporaryFolder("embedded")
        defer { try? FileManager.default.removeItem(at: home) }
        let result = try await WFLBinary(databaseURL: nil, home: home).run(["workloads"], extra: ["WFL_PG_BIN": "/nonexistent"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("WFL_PG_BIN=/nonexistent does not hold initdb, pg_ctl and postgres"))
    }
}
