import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import NIOHTTP1
import Testing

/// `wfl --server URL` (WFL_SERVER, WFL_TOKEN): the operator commands over a real
/// `wfl serve --auth`, with no database reachable from the CLI at all.
@Suite struct RemoteCLITests {
    /// A wfl that can only reach the server: its database URL points at nothing.
    static func remote(_ serve: ServeProcess, home: URL, token: String?) -> (WFLBinary, [String: String]) {
        var extra = ["WFL_SERVER": serve.base]
        if let token { extra["WFL_TOKEN"] = token }
        return (WFLBinary(databaseURL: "postgres://127.0.0.1:1/unreachable", home: home), extra)
    }

    @Test func operatorCommandsOverHTTPMatchTheDatabasePath() async throws {
        try await TestLauncher.with { launcher in
            let local = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            _ = try await local.run(["migrate"])
            var tokens: [String: String] = [:]
            for role in ["viewer", "operator", "admin"] {
                let made = try await local.run(["token", "create", "--name", "cli-\(role)", "--role", role])
                tokens[role] = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            // /version carries WFL's build fields, from the file the build script writes beside wfl.
            let root = URL(fileURLWithPath: WFLBinary.path).resolvingSymlinksInPath().deletingLastPathComponent()
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/build-info.sh")
            let wrote = try await Command.run([script.standardized.path, root.path], timeout: .seconds(60))
            #expect(wrote.status == 0, "\(wrote.stderr)")
            let head = try await Command.run(
                ["git", "-C", script.deletingLastPathComponent().path, "rev-parse", "HEAD"], timeout: .seconds(30))

            let serve = ServeProcess(wfl: local, home: launcher.home, arguments: ["--auth"])
            guard await serve.requireHealthy() else { return }
            let version = try await serve.http(.GET, "/version").json
            #expect(version["version"] == .string(LauncherVersion.current) && version["name"] == "workflow-launcher", "\(version)")
            if head.status == 0 {
                let commit = head.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(version["commit"]?.stringValue?.hasPrefix(commit) == true, "\(version) vs \(commit)")
                #expect(version["committed"] != nil && version["built"] != nil && version["user"] != nil, "\(version)")
            }
            let (wfl, asOperator) = Self.remote(serve, home: launcher.home, token: tokens["operator"])
            func remote(_ arguments: [String], as extra: [String: String] = asOperator) async throws -> Command.Result {
                try await wfl.run(arguments, extra: extra)
            }

            // exec --wait follows the workload the server runs: progress, summary, exit 3 for a failure.
            let file = try writeRequest(
                TestLauncher.request(source: TestLauncher.items(4), executor: ["name": "Mock", "failWhen": ["n": 2]]), in: launcher.home)
            let exec = try await remote(["exec", file, "--wait", "--interval", "0.2"])
            #expect(exec.status == 3, "\(exec.stdout) \(exec.stderr)")
            #expect(exec.stdout.contains("Started workload ") && exec.stdout.contains("(4/4 done)"), "\(exec.stdout)")
            #expect(
                exec.stdout.contains("3 Succeeded, 1 Failed (4 total)") && exec.stdout.contains("state       Finished"), "\(exec.stdout)")
            let uuid = try #require(exec.stdout.firstMatch(of: /Started workload ([0-9a-f-]{36})/).map { String($0.1) })

            // The same commands print the same text and JSON either way.
            for arguments in [
                ["workloads", uuid], ["workloads", uuid, "--json"], ["workflows", uuid],
                ["workflows", uuid, "--json", "--status", "failed"],
                ["events", uuid], ["events", uuid, "--json"], ["workloads", "--limit", "1"], ["stages", "--json"],
                ["workloads", "--state", "finished", "--label", "project:test", "--creator", "cli-operator"],
                ["workloads", "--state", "Created"],
            ] {
                let overHTTP = try await remote(arguments)
                let onDatabase = try await local.run(arguments)
                #expect(
                    overHTTP.status == 0 && overHTTP.stdout == onDatabase.stdout, "\(arguments): \(overHTTP.stdout) ≠ \(onDatabase.stdout)")
                #expect(overHTTP.stderr == onDatabase.stderr, "\(arguments): \(overHTTP.stderr) ≠ \(onDatabase.stderr)")
            }
            let events = try await remote(["events", uuid])
            #expect(events.stdout.contains("cli-operator") && events.stdout.contains("created"), "who did it: \(events.stdout)")

            // Retry and abort.
            let retry = try await remote(["retry", uuid, "--status", "Failed"])
            #expect(
                retry.status == 0 && retry.stdout.contains("Retrying 1 workflow(s):") && retry.stdout.contains("Pending"),
                "\(retry.stdout) \(retry.stderr)")
            let none = try await remote(["retry", uuid, "--status", "Aborted"])
            #expect(none.status == 2 && none.stderr.contains("No workflows to retry"), "\(none.stderr)")
            let slow = try writeRequest(
                TestLauncher.request(source: TestLauncher.items(2), executor: ["name": "Mock", "delaySeconds": 600]), in: launcher.home)
            let started = try JSONValue.parse(try await remote(["exec", slow, "--json"]).stdout)
            let slowUUID = try #require(started["uuid"]?.stringValue)
            let aborted = try await remote(["abort", slowUUID, "--json"])
            #expect(aborted.status == 0 && (try? JSONValue.parse(aborted.stdout))?["aborted"] != nil, "\(aborted.stdout) \(aborted.stderr)")

            // A viewer reads but changes nothing; no token or a wrong one is told so. Exit 4.
            let asViewer = Self.remote(serve, home: launcher.home, token: tokens["viewer"]).1
            #expect(try await remote(["workloads", uuid], as: asViewer).status == 0)
            for arguments in [["exec", file, "--wait"], ["retry", uuid, "--status", "Succeeded"], ["abort", uuid], ["token", "list"]] {
                let refused = try await remote(arguments, as: asViewer)
                #expect(
                    refused.status == 4 && refused.stderr.contains("role required"), "\(arguments): \(refused.status) \(refused.stderr)")
            }
            let anonymous = try await remote(["workloads"], as: ["WFL_SERVER": serve.base])
            #expect(anonymous.status == 4 && anonymous.stderr.contains("set WFL_TOKEN"), "\(anonymous.stderr)")
            let forged = try await remote(
                ["workloads"], as: ["WFL_SERVER": serve.base, "WFL_TOKEN": "wfl_" + String(repeating: "A", count: 43)])
            #expect(forged.status == 4 && forged.stderr.contains("not known"), "\(forged.stderr)")

            // Bad input is refused with the database path's own words (and exit 2).
            let badFile = try writeRequest(
                TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock", "delaySeconds": -1]), in: launcher.home)
            for arguments in [
                ["create", badFile], ["workloads", UUID().uuidString.lowercased()], ["workflows", uuid, "--status", "Sleeping"],
            ] {
                let overHTTP = try await remote(arguments)
                let onDatabase = try await local.run(arguments)
                #expect(overHTTP.status == 2 && onDatabase.status == 2, "\(arguments): \(overHTTP.status) \(onDatabase.status)")
                #expect(overHTTP.stderr == onDatabase.stderr, "\(arguments): \(overHTTP.stderr) ≠ \(onDatabase.stderr)")
            }

            // Tokens, as an admin over HTTP.
            let asAdmin = Self.remote(serve, home: launcher.home, token: tokens["admin"]).1
            let made = try await remote(["token", "create", "--name", "made-remotely", "--role", "viewer", "--json"], as: asAdmin)
            #expect(
                made.status == 0 && (try? JSONValue.parse(made.stdout))?["token"]?.stringValue?.hasPrefix("wfl_") == true, "\(made.stderr)")
            let listed = try await remote(["token", "list"], as: asAdmin)
            #expect(listed.stdout.contains("made-remotely") && listed.stdout.contains("cli-admin"), "\(listed.stdout)")
            let revoked = try await remote(["token", "revoke", "made-remotely"], as: asAdmin)
            #expect(revoked.status == 0 && revoked.stdout.contains("Revoked token made-remotely"), "\(revoked.stderr)")

            // Commands that work on the database say so; a server that is gone is exit 1.
            let migrate = try await remote(["migrate", "--server", serve.base])
            #expect(migrate.status == 2 && migrate.stderr.contains("works on the database"), "\(migrate.stderr)")
            #expect(try await serve.stop().status == 0)
            let gone = try await remote(["workloads"])
            #expect(gone.status == 1 && gone.stderr.contains("cannot reach the server"), "\(gone.stderr)")
        }
    }

    @Test func aServerURLIsCheckedBeforeAnythingIsSent() async throws {
        let home = try TestFiles.temporaryFolder("remote-url")
        let wfl = WFLBinary(databaseURL: "postgres://127.0.0.1:1/unreachable", home: home)
        let cases: [([String: String], String)] = [
            (["WFL_SERVER": "ftp://example.org"], "expected the server's http(s) URL"),
            (["WFL_SERVER": "http://"], "expected the server's http(s) URL"),
            (["WFL_SERVER": "https://user:secret@example.org"], "no user, password"),
            (["WFL_SERVER": "https://example.org/?x=1"], "no user, password, query"),
            // A bearer token in clear text off this machine is refused.
            (["WFL_SERVER": "http://10.1.2.3:3000", "WFL_TOKEN": "wfl_x"], "refusing to send WFL_TOKEN over plain http"),
            (["WFL_SERVER": "http://127.0.0.1:1", "WFL_TOKEN": "wfl_x\r\nX-Evil: 1"], "visible ASCII"),
        ]
        for (environment, says) in cases {
            let result = try await wfl.run(["workloads"], extra: environment)
            #expect(result.status == 2 && result.stderr.contains(says), "\(environment): \(result.status) \(result.stderr)")
        }
        let flag = try await wfl.run(["workloads", "--server", "ftp://x"])
        #expect(flag.status == 2 && flag.stderr.contains("--server: expected"), "\(flag.stderr)")
    }
}

/// `wfl logs`: a workflow's output, on the database or over HTTP, followed while it runs.
@Suite struct LogsCLITests {
    @Test func logsAreTailedAndFollowedTheSameEitherWay() async throws {
        try await TestLauncher.with { launcher in
            let local = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let serve = ServeProcess(wfl: local, home: launcher.home, interval: 0.2)
            guard await serve.requireHealthy() else { return }
            let remote = ["WFL_SERVER": serve.base]
            let work = try TestFiles.temporaryFolder("logs-cli")
            // The job waits for the test to start following it, so the follow loop is what prints the rest.
            let go = work.appendingPathComponent("go").path
            let command =
                "echo step-1; while [ ! -f \(go) ]; do sleep 0.1; done; for i in 2 3 4 5; do echo step-$i; sleep 0.3; done; echo done-err >&2"
            let file = try writeRequest(
                TestLauncher.request(
                    source: TestLauncher.items(1), executor: ["name": "Local", "command": .string(command), "workDir": .string(work.path)]),
                in: launcher.home)
            let started = try JSONValue.parse(try await local.run(["exec", file, "--json"], extra: remote).stdout)
            let uuid = try #require(started["uuid"]?.stringValue)
            var workflow: String?
            for _ in 0..<100 where workflow == nil {
                workflow = try await local.json(["workflows", uuid])[0]?["uuid"]?.stringValue
                if workflow == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let id = try #require(workflow)

            // Followed from its start over HTTP: every line once, in order, and the command ends with the workflow.
            let following = Task {
                try await local.run(["logs", id, "--follow", "--interval", "0.2"], extra: remote, timeout: .seconds(60))
            }
            try await Task.sleep(for: .seconds(1.5))
            #expect(FileManager.default.createFile(atPath: go, contents: Data()))
            let followed = try await following.value
            #expect(followed.status == 0, "\(followed.stderr)")
            #expect(followed.stdout == (1...5).map { "step-\($0)\n" }.joined(), "\(followed.stdout)")

            for extra in [[:], remote] {
                let tail = try await local.run(["logs", id, "--tail", "2"], extra: extra)
                #expect(tail.status == 0 && tail.stdout == "step-4\nstep-5\n", "\(extra): \(tail.stdout) \(tail.stderr)")
                let stderr = try await local.run(["logs", id, "--stderr"], extra: extra)
                #expect(stderr.stdout == "done-err\n", "\(extra): \(stderr.stdout)")
                let json = try await local.json(["logs", id, "--tail", "1"] + (extra.isEmpty ? [] : ["--server", serve.base]))
                #expect(json["text"] == "step-5\n" && json["size"] == 35 && json["workload"] == .string(uuid), "\(json)")
            }
            let missing = try await local.run(["logs", UUID().uuidString], extra: remote)
            #expect(missing.status == 2 && missing.stderr.contains("No workflow found"), "\(missing.stderr)")
            let mock = try writeRequest(TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock"]), in: launcher.home)
            let mockUUID = try #require(
                try JSONValue.parse(try await local.run(["exec", mock, "--wait", "--json"]).stdout)["uuid"]?.stringValue)
            let mockWorkflow = try #require(try await local.json(["workflows", mockUUID])[0]?["uuid"]?.stringValue)
            for extra in [[:], remote] {
                let none = try await local.run(["logs", mockWorkflow], extra: extra)
                #expect(none.status == 2 && none.stderr.contains("keeps no logs"), "\(extra): \(none.stderr)")
            }
            #expect(try await serve.stop().status == 0)
        }
    }
}
