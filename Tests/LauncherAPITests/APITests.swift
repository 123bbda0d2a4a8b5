import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LauncherAPI
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

/// A response: status, parsed JSON body, headers.
struct Reply {
    let status: HTTPResponse.Status
    let json: JSONValue
    let headers: HTTPFields
    var text = ""
}

/// Runs `body` with a client on the API over a fresh database.
func withAPI(_ body: @escaping @Sendable (any TestClientProtocol, TestLauncher) async throws -> Void) async throws {
    try await TestLauncher.with { launcher in
        // A live server on loopback, trusting loopback as the authenticating proxy in front.
        let app = Application(
            router: APIRoutes(
                service: launcher.service, trustedProxies: ["127.0.0.1", "::1"],
                metrics: { "wfl_test_metric 1\n" }
            ).router())
        try await app.test(.live) { client in try await body(client, launcher) }
    }
}

extension TestClientProtocol {
    func call(
        _ method: HTTPRequest.Method, _ uri: String, _ body: JSONValue? = nil, raw: String? = nil,
        headers: HTTPFields = [:]
    ) async throws -> Reply {
        let text = raw ?? body?.description
        let response = try await executeRequest(
            uri: uri, method: method, headers: headers,
            body: text.map { ByteBuffer(string: $0) })
        let bodyText = String(buffer: response.body)
        let json = bodyText.isEmpty ? JSONValue.null : ((try? JSONValue.parse(bodyText)) ?? .string(bodyText))
        return Reply(status: response.status, json: json, headers: response.headers, text: bodyText)
    }
}

func request(_ items: Int = 3, executor: JSONValue = ["name": "Mock"]) -> JSONValue {
    TestLauncher.request(source: TestLauncher.items(items), executor: executor, labels: ["team:imaging"])
}

@Suite struct APILifecycleTests {
    @Test func createStartRunListRetryThroughHTTP() async throws {
        try await withAPI { client, launcher in
            let created = try await client.call(
                .post, "/api/v1/create",
                request(6, executor: ["name": "Mock", "failWhen": ["n": 5]]),
                headers: [HTTPField.Name("X-Forwarded-Email")!: "ada@example.org"])
            #expect(created.status == .ok)
            let uuid = try #require(created.json["uuid"]?.stringValue)
            #expect(created.json["creator"] == "ada@example.org")
            #expect(created.json["labels"] == ["project:test", "team:imaging"])
            #expect(created.json["started"] == nil)
            #expect(created.json["source"] == ["name": "Items", "itemCount": 6])
            #expect(created.json["created"]?.stringValue?.hasSuffix("Z") == true)

            let started = try await client.call(.post, "/api/v1/start", ["uuid": .string(uuid)])
            #expect(started.status == .ok && started.json["started"] != nil)

            _ = try await launcher.runUntilFinished(UUID(uuidString: uuid)!)
            let listed = try await client.call(.get, "/api/v1/workload?uuid=\(uuid)")
            #expect(listed.status == .ok)
            #expect(listed.json.arrayValue?.count == 1)
            #expect(listed.json[0]?["workflows"]?["Succeeded"] == 5)
            #expect(listed.json[0]?["workflows"]?["Failed"] == 1)
            #expect(listed.json[0]?["workflows"]?["total"] == 6)
            #expect(listed.json[0]?["finished"] != nil)

            let byProject = try await client.call(.get, "/api/v1/workload?project=test")
            #expect(byProject.json.arrayValue?.count == 1)

            // Paginated workflows: a cursor header and a Link to the next page.
            let page1 = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?limit=4")
            #expect(page1.json.arrayValue?.count == 4)
            let cursor = try #require(page1.headers[HTTPField.Name("X-Next-Cursor")!])
            #expect(page1.headers[HTTPField.Name("Link")!]?.contains("cursor=\(cursor)") == true)
            let page2 = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?limit=4&cursor=\(cursor)")
            #expect(page2.json.arrayValue?.count == 2)
            #expect(page2.headers[HTTPField.Name("X-Next-Cursor")!] == nil)

            let failed = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?status=Failed")
            #expect(failed.json.arrayValue?.count == 1)
            #expect(failed.json[0]?["error"]?["kind"] == "workflow")

            let retried = try await client.call(.post, "/api/v1/workload/\(uuid)/retry", ["status": "Failed"])
            #expect(retried.status == .ok)
            #expect(retried.json["uuid"]?.stringValue == uuid, "WFL answers a retry with the workload")
            #expect(retried.json["finished"] == nil && retried.json["workflows"]?["Pending"] == 1, "\(retried.json)")
            #expect(retried.json["retried"]?.arrayValue?.count == 1)
            #expect(retried.json["retried"]?[0]?["attempt"] == 2)
            #expect(retried.json["retried"]?[0]?["retryOf"] == failed.json[0]?["uuid"])
            let reopened = try await client.call(.get, "/api/v1/workload/\(uuid)")
            #expect(reopened.json["finished"] == nil)
            let all = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?includeRetried=true&limit=100")
            #expect(all.json.arrayValue?.count == 7)

            let events = try await client.call(.get, "/api/v1/workload/\(uuid)/events")
            #expect(events.json.arrayValue?.map { $0["kind"] ?? .null }.contains("retried") == true)
        }
    }

    @Test func execStopAndAbortThroughHTTP() async throws {
        try await withAPI { client, launcher in
            let exec = try await client.call(.post, "/api/v1/exec", request(4, executor: ["name": "Mock", "delaySeconds": 600]))
            #expect(exec.status == .ok && exec.json["started"] != nil)
            let uuid = try #require(exec.json["uuid"]?.stringValue)
            _ = await launcher.updater.runPass()
            let stopped = try await client.call(.post, "/api/v1/stop", ["uuid": .string(uuid)])
            #expect(stopped.json["state"] == "Stopped")
            let aborted = try await client.call(.post, "/api/v1/workload/\(uuid)/abort")
            #expect(aborted.status == .ok)
            #expect(aborted.json["workflows"]?["Aborted"] == 4)
            #expect(aborted.json["state"] == "Aborted")
        }
    }

    @Test func serviceEndpoints() async throws {
        try await withAPI { client, _ in
            #expect(try await client.call(.get, "/status").json == ["status": "OK"])
            #expect(try await client.call(.get, "/version").json["version"] == .string(LauncherVersion.current))
            // /health gives the database 900 ms; a loaded machine may need a second go.
            var health = try await client.call(.get, "/health")
            for _ in 0..<4 where health.status != .ok { health = try await client.call(.get, "/health") }
            #expect(health.status == .ok && health.json["database"] == "reachable", "\(health.json)")
            let stages = try await client.call(.get, "/api/v1/stages")
            let names = stages.json.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(
                Set(names) == [
                    "Items", "TDR Snapshots", "Terra DataRepo", "Mock", "Local", "SLURM", "Container", "WES", "Terra",
                    "Directory", "None", "Terra Workspace",
                ])
            #expect(names.filter { $0 == "Terra DataRepo" }.count == 2, "a source and a sink share the name, as in WFL")
            #expect(stages.json.arrayValue?.first { $0["name"] == "Local" }?["fields"]?.arrayValue?.first?["name"] == "command")
            let metrics = try await client.call(.get, "/metrics")
            #expect(metrics.json == "wfl_test_metric 1\n")
        }
    }
}

@Suite struct APIErrorTests {
    /// Every 4xx has a JSON body with a message; `field` names the bad input.
    func expectError(
        _ reply: Reply, _ status: HTTPResponse.Status, field: String? = nil, contains text: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(reply.status == status, "\(reply.json)", sourceLocation: sourceLocation)
        #expect(reply.json["message"]?.stringValue?.isEmpty == false, "no message in \(reply.json)", sourceLocation: sourceLocation)
        if let field { #expect(reply.json["details"]?["field"] == .string(field), "\(reply.json)", sourceLocation: sourceLocation) }
        if let text {
            #expect(reply.json["message"]?.stringValue?.contains(text) == true, "\(reply.json)", sourceLocation: sourceLocation)
        }
    }

    @Test func badCreateRequestsAre400sNamingTheFieldAndWriteNothing() async throws {
        try await withAPI { client, launcher in
            let good = request()
            var cases: [(String?, JSONValue?, String, String)] = [
                ("{\"project\": ", nil, "", "not valid JSON"),
                ("", nil, "", "empty"),
                (nil, "[1]", "", "must be a JSON object"),
            ]
            func mutated(_ change: (inout JSONObject) -> Void) -> JSONValue {
                var object = good.objectValue!
                change(&object)
                return .object(object)
            }
            cases += [
                (nil, mutated { $0["project"] = nil }, "project", "required"),
                (nil, mutated { $0["project"] = 5 }, "project", "expected a string"),
                (nil, mutated { $0["labels"] = ["bad label"] }, "labels[0]", "exactly one ':'"),
                (nil, mutated { $0["labels"] = "team:x" }, "labels", "expected an array"),
                (nil, mutated { $0["watchers"] = [["pager", "x"]] }, "watchers[0]", "unknown watcher type"),
                (nil, mutated { $0["source"] = ["name": "Files"] }, "source.name", "known sources: Items"),
                (
                    nil, mutated { $0["executor"] = ["name": "Cromwell"] }, "executor.name",
                    "known executors: Container, Local, Mock, SLURM, Terra, WES"
                ),
                (nil, mutated { $0["sink"] = nil }, "sink", "required"),
                (nil, mutated { $0["executor"] = ["name": "Mock", "delaySeconds": "5"] }, "executor.delaySeconds", "expected a number"),
                (nil, mutated { $0["executor"] = ["name": "Mock", "skipValidation": true] }, "executor.skipValidation", "unknown field"),
                (nil, mutated { $0["sink"] = ["name": "Directory", "path": 1] }, "sink.path", "expected a string"),
                (nil, mutated { $0["source"] = ["name": "Items", "items": [["a": 1], 2]] }, "source.items[1]", "expected an object"),
                (nil, mutated { $0["executor"] = ["name": "Local", "command": "echo {{sample}}"] }, "source.items[0]", "{{sample}}"),
                (nil, mutated { $0["pipeline"] = "ExternalWholeGenomeReprocessing" }, "pipeline", "unknown field"),
            ]
            for (raw, json, field, text) in cases {
                for path in ["/api/v1/create", "/api/v1/exec"] {
                    let reply = try await client.call(.post, path, json, raw: raw)
                    expectError(reply, .badRequest, field: field, contains: text)
                }
            }
            let listed = try await client.call(.get, "/api/v1/workload")
            #expect(listed.json == [])
            #expect(try await launcher.database.scalar("SELECT count(*) FROM source_item") == 0)
        }
    }

    @Test func unknownAndMalformedUUIDs() async throws {
        try await withAPI { client, _ in
            let missing = UUID().uuidString
            expectError(try await client.call(.get, "/api/v1/workload?uuid=\(missing)"), .notFound, contains: "No workload found")
            expectError(try await client.call(.get, "/api/v1/workload/\(missing)/workflows"), .notFound)
            expectError(try await client.call(.post, "/api/v1/workload/\(missing)/retry", ["status": "Failed"]), .notFound)
            expectError(try await client.call(.post, "/api/v1/workload/\(missing)/abort"), .notFound)
            expectError(try await client.call(.post, "/api/v1/start", ["uuid": .string(missing)]), .notFound)
            expectError(try await client.call(.get, "/api/v1/workload/not-a-uuid"), .badRequest, field: "uuid")
            expectError(try await client.call(.post, "/api/v1/stop", ["uuid": 12]), .badRequest, field: "uuid")
            expectError(try await client.call(.post, "/api/v1/stop", ["id": "x"]), .badRequest, field: "uuid")
            expectError(try await client.call(.get, "/api/v1/workload?uuid=\(missing)&project=p"), .badRequest, field: "uuid")
            expectError(try await client.call(.get, "/api/v1/workload?limit=ten"), .badRequest, field: "limit")
            expectError(try await client.call(.get, "/api/v1/workload?limit=0"), .badRequest, field: "limit")
            expectError(try await client.call(.get, "/api/v1/workload?cursor=forged"), .badRequest, field: "cursor")
            expectError(try await client.call(.get, "/api/v1/nothing-here"), .notFound, contains: "not found")
        }
    }

    /// Each query parameter's limits in /openapi.json are the ones the server enforces (both
    /// come from one declaration): one past the limit is a 400 naming the parameter, the limit
    /// itself is not refused for it.
    @Test func queryLimitsInTheDocumentAreTheOnesEnforced() async throws {
        try await withAPI { client, _ in
            let created = try await client.call(.post, "/api/v1/create", request(1))
            let uuid = try #require(created.json["uuid"]?.stringValue)
            let workflow = UUID().uuidString.lowercased()
            let document = try await client.call(.get, "/openapi.json").json
            var checked = 0
            for (path, item) in document["paths"]?.objectValue ?? [:] {
                for parameter in item["get"]?["parameters"]?.arrayValue ?? [] where parameter["in"] == "query" {
                    let name = try #require(parameter["name"]?.stringValue)
                    let schema = parameter["schema"] ?? .null
                    let url = path.replacingOccurrences(of: "{uuid}", with: uuid).replacingOccurrences(of: "{workflow}", with: workflow)
                    var cases: [(String, Bool)] = []
                    if let maximum = schema["maximum"]?.intValue, let minimum = schema["minimum"]?.intValue {
                        // One past Int64.max is written out rather than computed (it would trap).
                        let (past, overflow) = maximum.addingReportingOverflow(1)
                        cases = [
                            (String(maximum), false), (overflow ? "9223372036854775808" : String(past), true), (String(minimum), false),
                            (String(minimum - 1), true),
                        ]
                    } else if let length = schema["maxLength"]?.intValue {
                        cases = [(String(repeating: "a", count: Int(length) + 1), true)]
                    } else if schema["format"] == "uuid" {
                        cases = [(String(repeating: "a", count: 65), true)]
                    } else if let values = schema["enum"]?.arrayValue?.compactMap(\.stringValue), let first = values.first {
                        cases = [(first, false), (first.uppercased(), true), ("x" + first, true)]
                    }
                    for (value, refused) in cases {
                        let reply = try await client.call(.get, "\(url)?\(name)=\(value)")
                        let namesIt = reply.status == .badRequest && reply.json["details"]?["field"] == .string(name)
                        #expect(namesIt == refused, "\(path)?\(name)=\(value.prefix(20))…: \(reply.status) \(reply.json)")
                        checked += 1
                    }
                }
            }
            #expect(checked >= 20, "\(checked) cases")
        }
    }

    @Test func badRetryAndWorkflowQueries() async throws {
        try await withAPI { client, launcher in
            let created = try await client.call(.post, "/api/v1/exec", request(2))
            let uuid = try #require(created.json["uuid"]?.stringValue)
            _ = try await launcher.runUntilFinished(UUID(uuidString: uuid)!)
            let retry = "/api/v1/workload/\(uuid)/retry"
            expectError(try await client.call(.post, retry, [:]), .badRequest, contains: "at least one filter")
            expectError(try await client.call(.post, retry, ["status": "Running"]), .badRequest, field: "status")
            expectError(
                try await client.call(.post, retry, ["status": "Failed"]), .badRequest,
                contains: "No workflows to retry for workload and requested workflow filters.")
            expectError(try await client.call(.post, retry, ["status": 3]), .badRequest, field: "status")
            expectError(try await client.call(.post, retry, ["uuids": "abc"]), .badRequest, field: "uuids")
            expectError(try await client.call(.post, retry, raw: "{"), .badRequest, contains: "not valid JSON")
            expectError(try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?status=Done"), .badRequest, field: "status")
            expectError(
                try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?includeRetried=maybe"), .badRequest,
                field: "includeRetried")
            // Stopping before start, as WFL.
            let unstarted = try await client.call(.post, "/api/v1/create", request(1))
            expectError(
                try await client.call(.post, "/api/v1/stop", ["uuid": unstarted.json["uuid"]!]), .badRequest,
                contains: "Cannot stop workload before it's been started.")
        }
    }
}
