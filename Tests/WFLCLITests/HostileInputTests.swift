import Foundation
import LauncherCore
import LauncherPostgres
import LauncherSystem
import LauncherTestSupport
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Every class of hostile request found against `wfl serve`, as a regression test on the real
/// server: a 4xx naming the field (never a 5xx, never a crash), nothing written when refused,
/// no secret or file read for the caller, nothing written outside the allowed folders.
@Suite(.serialized) struct HostileInputTests {
    func withServe(
        extra: [String: String] = [:], arguments: [String] = [],
        _ body: @escaping @Sendable (ServeProcess, TestLauncher) async throws -> Void
    ) async throws {
        try await TestLauncher.with { launcher in
            let serve = ServeProcess(
                wfl: WFLBinary(databaseURL: launcher.url, home: launcher.home), home: launcher.home,
                extra: extra, arguments: arguments)
            guard await serve.waitHealthy() else {
                let result = try await serve.stop()
                Issue.record("wfl serve did not become healthy (exit \(result.status)): \(ServeProcess.diagnosis(result.stderr))")
                return
            }
            do {
                try await body(serve, launcher)
            } catch {
                _ = try? await serve.stop()
                throw error
            }
            let result = try await serve.stop()
            #expect(result.status == 0, "wfl serve exited \(result.status): \(result.stderr.suffix(2000))")
        }
    }

    func expect400(
        _ reply: (status: UInt, json: JSONValue, text: String, headers: HTTPHeaders), field: String,
        _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(reply.status == 400, "\(comment): \(reply.status) \(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.json["details"]?["field"]?.stringValue == field, "\(comment): \(reply.text)", sourceLocation: sourceLocation)
    }

    static func mock(
        _ executor: JSONObject = [:], project: JSONValue = "p", items: JSONValue = [["n": 1]], labels: JSONValue = [],
        sink: JSONValue = ["name": "None"]
    ) -> JSONValue {
        var config: JSONObject = ["name": "Mock"]
        config.merge(executor) { _, new in new }
        return [
            "project": project, "labels": labels, "source": ["name": "Items", "items": items], "executor": .object(config), "sink": sink,
        ]
    }

    @Test func hugeNumbersAreRefusedNamingTheFieldAndNeverReachTheLoop() async throws {
        try await withServe { serve, launcher in
            let cases: [(JSONValue, String)] = [
                (Self.mock(["delaySeconds": 1e13]), "executor.delaySeconds"),
                (Self.mock(["delaySeconds": -1]), "executor.delaySeconds"),
                (
                    [
                        "project": "p", "source": ["name": "Items", "items": [["n": 1]]], "sink": ["name": "None"],
                        "executor": ["name": "SLURM", "command": "true", "commandTimeoutSeconds": 1e300],
                    ], "executor.commandTimeoutSeconds"
                ),
                (
                    [
                        "project": "p", "source": ["name": "Items", "items": [["n": 1]]], "sink": ["name": "None"],
                        "executor": ["name": "Container", "image": "localhost/tiny", "command": "true", "commandTimeoutSeconds": 1e300],
                    ],
                    "executor.commandTimeoutSeconds"
                ),
                (
                    [
                        "project": "p", "source": ["name": "Items", "items": [["n": 1]]], "sink": ["name": "None"],
                        "executor": [
                            "name": "WES", "url": "http://127.0.0.1:1", "workflowUrl": "x.cwl", "workflowType": "CWL",
                            "workflowTypeVersion": "v1.2", "requestTimeoutSeconds": 1e300,
                        ],
                    ], "executor.requestTimeoutSeconds"
                ),
                (
                    [
                        "project": "p", "source": ["name": "Items", "items": [["n": 1]]], "sink": ["name": "None"],
                        "executor": ["name": "Local", "command": "true", "maxParallel": .number(JSONNumber(text: "9223372036854775808")!)],
                    ], "executor.maxParallel"
                ),
                (
                    [
                        "project": "p", "source": ["name": "Items", "items": [["n": 1]]], "sink": ["name": "None"],
                        "executor": ["name": "SLURM", "command": "true", "memory": "99999999999999999999T"],
                    ], "executor.memory"
                ),
            ]
            for (request, field) in cases {
                expect400(try await serve.http(.POST, "/api/v1/exec", request), field: field, "\(request["executor"] ?? .null)")
            }
            #expect(try await serve.http(.GET, "/health").status == 200, "the server stays up")
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workload") == 0)
        }
    }

    @Test func nulCharactersAndOverlongStringsAreRefusedNamingTheField() async throws {
        try await withServe { serve, launcher in
            let nul = "a\u{0}b"
            let cases: [(JSONValue, String)] = [
                (Self.mock(project: .string(nul)), "project"),
                (Self.mock(project: .string(String(repeating: "p", count: 3000))), "project"),
                (Self.mock(labels: [.string("team:\(nul)")]), "labels[0]"),
                (Self.mock(items: [["sample": .string(nul)]]), "source.items[0].sample"),
                (Self.mock(items: [["ok": 1], .object([nul: 1])]), "source.items[1]"),
                (
                    [
                        "project": "p", "source": ["name": "Items", "items": [["n": 1]]], "sink": ["name": "None"],
                        "executor": ["name": "Local", "command": .string("echo \(nul)")],
                    ], "executor.command"
                ),
                (Self.mock(["failWhen": ["x": .string(nul)]]), "executor.failWhen.x"),
            ]
            for (request, field) in cases {
                expect400(try await serve.http(.POST, "/api/v1/create", request), field: field, field)
            }
            let created = try await serve.http(.POST, "/api/v1/exec", Self.mock())
            let uuid = try #require(created.json["uuid"]?.stringValue)
            expect400(try await serve.http(.GET, "/api/v1/workload?project=a%00b"), field: "project")
            expect400(try await serve.http(.GET, "/api/v1/workload/\(uuid)/workflows?submission=a%00b"), field: "submission")
            expect400(try await serve.http(.POST, "/api/v1/workload/\(uuid)/retry", ["submission": .string(nul)]), field: "submission")
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workload") == 1)
        }
    }

    @Test func protocolAbusesGetJSONErrorsNotFiveHundreds() async throws {
        try await withServe(arguments: ["--max-body-size", "100000"]) { serve, launcher in
            // Too large: 413 with the limit, as JSON.
            let big = Self.mock(items: .array((0..<20_000).map { ["n": .int(Int64($0))] }))
            let tooLarge = try await serve.http(.POST, "/api/v1/create", big)
            #expect(tooLarge.status == 413, "\(tooLarge.text)")
            #expect(tooLarge.json["details"]?["limit"] == 100_000)
            // Wrong method on a known route: 405 with Allow.
            let wrong = try await serve.http(.DELETE, "/api/v1/create")
            #expect(wrong.status == 405 && wrong.headers["Allow"].first == "POST" && wrong.json["message"] != nil, "\(wrong.text)")
            // A malformed chunked body: 400, as JSON.
            let chunked = serve.raw(
                Array(
                    "POST /api/v1/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
                        .utf8))
            #expect(!chunked.reply.contains("500"), "\(chunked.reply)")
            // What the HTTP parser refuses gets JSON too, and the connection is closed.
            let longURL = "GET /" + String(repeating: "a", count: 1 << 20) + " HTTP/1.1\r\nHost: x\r\n\r\n"
            for (label, bytes) in [
                ("lowercase method", "get / HTTP/1.1\r\nHost: x\r\n\r\n"), ("bare LF", "GET / HTTP/1.1\nHost: x\n\n"),
                ("control character in a header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\u{01}c\r\n\r\n"),
                ("a 1 MB URL", longURL), ("CONNECT", "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n"),
            ] {
                let (reply, closed) = serve.raw(Array(bytes.utf8))
                let body = reply.components(separatedBy: "\r\n\r\n").dropFirst().joined()
                #expect(reply.hasPrefix("HTTP/1.1 4"), "\(label): \(reply.prefix(200))")
                // (A response to CONNECT cannot carry a body: NIO frames it without one.)
                #expect(
                    label == "CONNECT" || (try? JSONValue.parse(body))?["message"] != nil,
                    "\(label): not a JSON error: \(reply.prefix(300))")
                #expect(closed, "\(label): the connection was held open after the error")
            }
            // A client that goes away mid-body leaves the server healthy.
            _ = serve.raw(Array("POST /api/v1/create HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"project\":".utf8), wait: 0.2)
            #expect(try await serve.http(.GET, "/health").status == 200)
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workload") == 0)
        }
    }

    @Test func aFiveHundredCarriesARequestIDAndNoInternals() async throws {
        try await withServe { serve, launcher in
            try await launcher.database.execute("ALTER TABLE workload_event RENAME TO workload_event_hidden")
            let failed = try await serve.http(.POST, "/api/v1/exec", Self.mock())
            try await launcher.database.execute("ALTER TABLE workload_event_hidden RENAME TO workload_event")
            #expect(failed.status == 500, "\(failed.text)")
            #expect(
                !failed.text.contains("workload_event") && !failed.text.contains("SQLSTATE") && !failed.text.contains("relation"),
                "\(failed.text)")
            let id = try #require(failed.json["requestId"]?.stringValue)
            #expect(failed.headers["X-Request-Id"].first == id)
        }
    }

    /// `--log-format json`: every line is a JSON object; a failed request's line carries the
    /// request id the client got back, with the internal error the client did not.
    @Test func jsonLogsCarryTheRequestIDAndTheInternalError() async throws {
        try await TestLauncher.with { launcher in
            let serve = ServeProcess(
                wfl: WFLBinary(databaseURL: launcher.url, home: launcher.home), home: launcher.home,
                arguments: ["--log-format", "json"])
            guard await serve.requireHealthy() else { return }
            try await launcher.database.execute("ALTER TABLE workload_event RENAME TO workload_event_hidden")
            let failed = try await serve.http(.POST, "/api/v1/exec", Self.mock())
            try await launcher.database.execute("ALTER TABLE workload_event_hidden RENAME TO workload_event")
            let id = try #require(failed.json["requestId"]?.stringValue)
            let result = try await serve.stop()
            let lines = result.stderr.split(separator: "\n").filter { !$0.isEmpty }
            #expect(!lines.isEmpty)
            let objects = lines.compactMap { try? JSONValue.parse(String($0)) }
            #expect(objects.count == lines.count, "not every log line is JSON: \(lines.prefix(5))")
            let entry = try #require(objects.first { $0["requestId"]?.stringValue == id }, "no log line for request \(id)")
            #expect(entry["level"] == "error" && entry["time"] != nil && entry["message"] == "request failed")
            #expect(entry["internal"]?.stringValue?.contains("workload_event") == true, "\(entry)")
        }
    }

    @Test func identityHeadersAreBelievedOnlyFromTrustedProxies() async throws {
        try await withServe { serve, _ in
            let created = try await serve.http(.POST, "/api/v1/create", Self.mock(), headers: [("X-Forwarded-Email", "root@example.org")])
            #expect(created.json["creator"] == "anonymous", "any client's header was believed")
        }
        try await withServe(extra: ["WFL_TRUSTED_PROXIES": "127.0.0.1"]) { serve, _ in
            let created = try await serve.http(.POST, "/api/v1/create", Self.mock(), headers: [("X-Forwarded-Email", "ada@example.org")])
            #expect(created.json["creator"] == "ada@example.org")
        }
    }

    /// A listener standing in for an attacker's host: records whatever reaches it.
    final class Listener: @unchecked Sendable {
        let port: Int
        private let fd: Int32
        private let lock = NSLock()
        private var received: [String] = []

        init() {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.fd = fd
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var chosen = 0
            for candidate in (0..<50).map({ _ in Int.random(in: 20_000..<60_000) }) {
                address.sin_port = in_port_t(UInt16(candidate).bigEndian)
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                if bound == 0 {
                    chosen = candidate
                    break
                }
            }
            port = chosen
            listen(fd, 16)
            let socketFD = fd
            Thread.detachNewThread { [weak self] in
                while true {
                    let client = accept(socketFD, nil, nil)
                    if client < 0 { return }
                    var buffer = [UInt8](repeating: 0, count: 65_536)
                    let count = recv(client, &buffer, buffer.count, 0)
                    if count > 0 { self?.add(String(decoding: buffer[0..<count], as: UTF8.self)) }
                    Glibc.close(client)
                }
            }
        }

        func add(_ text: String) {
            lock.lock()
            received.append(text)
            lock.unlock()
        }
        var all: [String] {
            lock.lock()
            defer { lock.unlock() }
            return received
        }
        func close() {
            shutdown(fd, Int32(SHUT_RDWR))
            Glibc.close(fd)
        }
    }

    @Test func secretsFilesAndOutboundRequestsStayWhereTheOperatorAllows() async throws {
        let listener = Listener()
        defer { listener.close() }
        let secrets = try TestFiles.temporaryFolder("secrets")
        try "letmein".write(to: secrets.appendingPathComponent("wes-token"), atomically: true, encoding: .utf8)
        try "wes.example.org\n".write(to: secrets.appendingPathComponent("wes-token.hosts"), atomically: true, encoding: .utf8)
        let private_ = try TestFiles.temporaryFolder("private")
        let stolen = private_.appendingPathComponent("root-only")
        try "TOP-SECRET".write(to: stolen, atomically: true, encoding: .utf8)
        chmod(stolen.path, 0o600)
        try await withServe(extra: ["WFL_SECRETS_DIR": secrets.path]) { serve, launcher in
            func wes(_ fields: JSONObject, url: String = "http://127.0.0.1:\(listener.port)") -> JSONValue {
                var executor: JSONObject = [
                    "name": "WES", "url": .string(url), "workflowUrl": "x.cwl", "workflowType": "CWL",
                    "workflowTypeVersion": "v1.2",
                ]
                executor.merge(fields) { _, new in new }
                return [
                    "project": "p", "source": ["name": "Items", "items": [["n": 1]]], "executor": .object(executor),
                    "sink": ["name": "None"],
                ]
            }
            expect400(try await serve.http(.POST, "/api/v1/create", wes(["tokenFile": .string(stolen.path)])), field: "executor.tokenFile")
            expect400(try await serve.http(.POST, "/api/v1/create", wes(["tokenEnv": "WFL_DATABASE_URL"])), field: "executor.tokenEnv")
            expect400(
                try await serve.http(.POST, "/api/v1/create", wes(["tokenSecret": "../private/root-only"])), field: "executor.tokenSecret")
            // A real secret, but bound to another host: never sent here.
            expect400(try await serve.http(.POST, "/api/v1/create", wes(["tokenSecret": "wes-token"])), field: "executor.tokenSecret")
            expect400(
                try await serve.http(
                    .POST, "/api/v1/create",
                    wes(
                        ["workflowAttachment": .string(stolen.path)],
                        url: "http://169.254.169.254/latest")), field: "executor.url")
            expect400(
                try await serve.http(.POST, "/api/v1/create", wes([:], url: "http://metadata.google.internal/")), field: "executor.url")
            try await Task.sleep(for: .milliseconds(300))
            #expect(listener.all.isEmpty, "a refused create reached the URL: \(listener.all)")
            #expect(!listener.all.joined().contains("TOP-SECRET") && !listener.all.joined().contains("letmein"))
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workload") == 0)
        }
    }

    @Test func pathsAreAbsoluteNormalisedConfinedAndARefusedCreateLeavesNothing() async throws {
        let allowed = try TestFiles.temporaryFolder("allowed")
        try await withServe(extra: ["WFL_ALLOWED_ROOTS": allowed.path]) { serve, _ in
            func directory(_ path: String, executor: JSONValue = ["name": "Mock"]) -> JSONValue {
                [
                    "project": "p", "source": ["name": "Items", "items": [["n": 1]]], "executor": executor,
                    "sink": ["name": "Directory", "path": .string(path)],
                ]
            }
            expect400(try await serve.http(.POST, "/api/v1/create", directory("results")), field: "sink.path", "relative")
            expect400(try await serve.http(.POST, "/api/v1/create", directory("~/results")), field: "sink.path", "home-relative")
            expect400(try await serve.http(.POST, "/api/v1/create", directory("\(allowed.path)/../escaped")), field: "sink.path", "dot-dot")
            expect400(try await serve.http(.POST, "/api/v1/create", directory("/etc/wfl-out")), field: "sink.path", "outside")
            // The executor's folder is allowed, the sink's is not: the create is refused and the
            // executor's folder was not made.
            let work = allowed.appendingPathComponent("work")
            expect400(
                try await serve.http(
                    .POST, "/api/v1/create",
                    directory(
                        "/tmp/elsewhere-\(UUID())",
                        executor: ["name": "Local", "command": "true", "workDir": .string(work.path)])),
                field: "sink.path")
            #expect(!FileManager.default.fileExists(atPath: work.path), "a refused create left a folder")
            let inside = try await serve.http(.POST, "/api/v1/create", directory("\(allowed.path)/./out/../results"))
            #expect(inside.status == 200, "\(inside.text)")
            #expect(inside.json["sink"]?["path"]?.stringValue == "\(FilePolicy.normalised(allowed.path))/results")
            #expect(!FileManager.default.fileExists(atPath: allowed.appendingPathComponent("results").path), "created before any delivery")
        }
    }

    @Test func aWorkloadWhoseStoredRowWasCorruptedIsQuarantinedAndServeGoesOn() async throws {
        try await withServe { serve, launcher in
            let poisoned = try await serve.http(.POST, "/api/v1/exec", Self.mock(["delaySeconds": 0.5]))
            let poisonedID = try #require(poisoned.json["uuid"]?.stringValue)
            let unknown = try await serve.http(.POST, "/api/v1/exec", Self.mock(["delaySeconds": 0.5]))
            let unknownID = try #require(unknown.json["uuid"]?.stringValue)
            // Impossible values written by hand, as the issue's crash loop had them.
            try await launcher.database.execute(
                """
                UPDATE workload SET executor_config = '{"name": "Mock", "delaySeconds": 1e13}' WHERE uuid = '\(poisonedID)';
                """)
            try await launcher.database.execute(
                """
                UPDATE workload SET executor_config = '{"name": "NoSuchExecutor"}' WHERE uuid = '\(unknownID)';
                """)
            let healthy = try await serve.http(.POST, "/api/v1/exec", Self.mock(items: .array((0..<10).map { ["n": .int(Int64($0))] })))
            let healthyID = try #require(healthy.json["uuid"]?.stringValue)
            var done = JSONValue.null, bad = JSONValue.null
            for _ in 0..<100 {
                try await Task.sleep(for: .milliseconds(200))
                done = try await serve.http(.GET, "/api/v1/workload/\(healthyID)").json
                bad = try await serve.http(.GET, "/api/v1/workload/\(poisonedID)").json
                if done["finished"] != nil && bad["quarantined"] != nil { break }
            }
            #expect(done["workflows"]?["Succeeded"] == 10, "the healthy workload did not finish: \(done)")
            #expect(bad["quarantined"] != nil, "\(bad)")
            #expect(bad["lastError"]?["message"]?.stringValue?.contains("executor.delaySeconds") == true, "\(bad)")
            let other = try await serve.http(.GET, "/api/v1/workload/\(unknownID)").json
            #expect(other["lastError"]?["message"]?.stringValue?.contains("NoSuchExecutor") == true, "\(other)")
            #expect(try await serve.http(.GET, "/health").status == 200)
        }
    }
}
