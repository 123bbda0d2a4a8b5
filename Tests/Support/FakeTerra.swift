import Crypto
import CryptoExtras
import Foundation
import HTTPTypes
import Hummingbird
import LauncherCore
import Logging
import NIOCore
import ServiceLifecycle

/// An in-process stand-in for the Terra services the launcher calls — Firecloud, Rawls, the
/// Terra Data Repository, BigQuery and Google's token endpoint — on 127.0.0.1. It implements
/// exactly the endpoints the Terra stages use, with the request and response shapes of the real
/// services (Rawls' `Submission`, TDR's jobs, BigQuery's `jobs.query` with `jobComplete` and
/// `pageToken`), checks every bearer token against the ones it issued, and can be told to fail.
///
/// Workflows advance one step each time their submission is read: `Queued` (no id yet) →
/// `Submitted` (id assigned) → `Running` → the outcome `outcome(entity, attempt)` gives.
public final class FakeTerra: @unchecked Sendable {
    /// The port the server bound (the system picks a free one).
    public var port: Int { locked { $0.port } }
    public let keyFile: String
    private let lock = NSLock()
    private var state = State()
    private let privateKey: _RSA.Signing.PrivateKey

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Settings that point the Terra stages at this fake, with a service-account key it accepts.
    public var settings: [String: String] {
        [
            "WFL_FIRECLOUD_URL": "\(url)/fc", "WFL_RAWLS_URL": "\(url)/rawls", "WFL_TDR_URL": "\(url)/tdr",
            "WFL_BIGQUERY_URL": "\(url)/bq", "WFL_GOOGLE_TOKEN_URL": "\(url)/token",
            "GOOGLE_APPLICATION_CREDENTIALS": keyFile, "WFL_GOOGLE_TOKEN": "", "WFL_TERRA_TIMEOUT_SECONDS": "10",
        ]
    }

    // MARK: Model

    public struct Outcome: Sendable {
        public var status: String
        public var messages: [String]
        public init(_ status: String, messages: [String] = []) {
            self.status = status
            self.messages = messages
        }
        public static let succeeded = Outcome("Succeeded")
    }

    struct Workflow {
        var id: String?
        var entityType: String
        var entity: String
        var status: String
        var outcome: Outcome
        var messages: [String] = []
    }

    struct Submission {
        var id: String
        var workspace: String
        var methodConfiguration: String
        var comment: String
        var request: JSONObject
        var workflows: [Workflow]
        var aborted = false
        var status: String {
            if workflows.allSatisfy({ ["Succeeded", "Failed", "Aborted", "Unknown"].contains($0.status) }) {
                return aborted ? "Aborted" : "Done"
            }
            return aborted ? "Aborting" : "Submitted"
        }
    }

    struct Job {
        var kind: String
        var pollsLeft: Int
        var fail: String?
        var result: JSONValue
        var onSuccess: (@Sendable (inout State) -> JSONValue)?
    }

    struct Query {
        var rows: [[String]]
        var incompleteReads: Int
    }

    public struct Dataset: Sendable {
        public var id: String
        public var name: String
        public var tables: [String: [String: String]]  // table → column → datatype
        public var rows: [String: [(id: String, ingested: Date, loadTag: String, values: JSONObject)]] = [:]
        public var rowMetadataInBigQuery = true
    }

    struct State {
        var port = 0
        var tokensIssued: [String] = []
        var tokenRequests = 0
        var tokenLifetime = 3600
        var calls: [(method: String, path: String, body: JSONValue)] = []
        var workspaces: [String: Workspace] = [:]
        var datasets: [String: Dataset] = [:]
        var snapshots: [String: (name: String, dataset: String, table: String, rows: [String])] = [:]
        var submissions: [String: Submission] = [:]
        var submissionOrder: [String] = []
        var jobs: [String: Job] = [:]
        var queries: [String: Query] = [:]
        var failures: [Failure] = []
        var delays: [(pattern: String, seconds: Double)] = []
        var outcome: @Sendable (String, Int) -> Outcome = { _, _ in .succeeded }
        var attempts: [String: Int] = [:]
        var holdRunning = false
        var dropFromSubmissions: Set<String> = []
        var failSnapshotJobs = 0
        var failIngestJobs = 0
        var badRowsFor: Set<String> = []
        var withoutSampleID: Set<String> = []
        var incompleteQueryReads = 1
        var pageSize = 2
    }

    struct Workspace {
        var methodConfigs: [String: JSONObject] = [:]
        var entityTypes: [String: [String]] = [:]
        var entities: [String: [String: JSONObject]] = [:]
        var references: [JSONValue] = []
    }

    public struct Failure: Sendable {
        public var method: String
        public var pattern: String
        public var status: Int
        public var remaining: Int
        public init(_ method: String, _ pattern: String, status: Int, times: Int = Int.max) {
            self.method = method
            self.pattern = pattern
            self.status = status
            remaining = times
        }
    }

    // MARK: Running

    private init(keyFile: String, privateKey: _RSA.Signing.PrivateKey) {
        self.keyFile = keyFile
        self.privateKey = privateKey
    }

    /// Runs `body` with a fresh fake listening on a free port.
    public static func with<T: Sendable>(_ body: @escaping @Sendable (FakeTerra) async throws -> T) async throws -> T {
        let folder = try TestFiles.temporaryFolder("terra")
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let keyFile = folder.appendingPathComponent("service-account.json").path
        let fake = FakeTerra(keyFile: keyFile, privateKey: key)
        let document: JSONValue = [
            "type": "service_account", "client_email": "wfl-test@fake-project.iam.gserviceaccount.com",
            "private_key": .string(key.pemRepresentation), "token_uri": "https://oauth2.googleapis.com/token",
        ]
        try Data(document.description.utf8).write(to: URL(fileURLWithPath: keyFile))
        let quiet = Logger(label: "fake-terra", factory: { _ in SwiftLogNoOpLogHandler() })
        let app = Application(
            responder: CallbackResponder { (request: Request, _: BasicRequestContext) in try await fake.respond(request) },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in fake.locked { $0.port = channel.localAddress?.port ?? -1 } }, logger: quiet)
        // Stopped gracefully, not cancelled: cancelling a server with open keep-alive
        // connections can trap in NIO ("Deinited NIOAsyncWriter without calling finish()").
        let services = ServiceGroup(configuration: .init(services: [app], logger: quiet))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            do {
                try await fake.waitUntilListening()
                let result = try await body(fake)
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return result
            } catch {
                await services.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    private func waitUntilListening() async throws {
        for _ in 0..<200 {
            if port != 0 { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("the fake Terra server did not start")
    }

    private func locked<T>(_ body: (inout State) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }

    // MARK: Test setup and inspection

    public func addWorkspace(
        _ name: String, methodConfiguration: String? = nil, version: Int = 3,
        entityTypes: [String: [String]] = [:]
    ) {
        locked { state in
            var workspace = Workspace()
            if let methodConfiguration {
                let parts = methodConfiguration.split(separator: "/").map(String.init)
                workspace.methodConfigs[methodConfiguration] = [
                    "namespace": .string(parts[0]), "name": .string(parts[1]), "methodConfigVersion": .int(Int64(version)),
                    "rootEntityType": "sample", "inputs": ["wf.x": "this.x"], "outputs": [:],
                    "methodRepoMethod": ["sourceRepo": "dockstore", "methodPath": "github.com/org/wf", "methodVersion": "v1"],
                ]
            }
            workspace.entityTypes = entityTypes
            state.workspaces[name] = workspace
        }
    }

    @discardableResult
    public func addDataset(name: String, table: String, columns: [String: String]) -> String {
        let id = UUID().uuidString.lowercased()
        locked { $0.datasets[id] = Dataset(id: id, name: name, tables: [table: columns]) }
        return id
    }

    /// Rows ingested into a dataset table now (as TDR's row-metadata table records them).
    @discardableResult
    public func ingestRows(dataset: String, table: String, count: Int, loadTag: String = "load-1", at time: Date = Date()) -> [String] {
        let ids = (0..<count).map { _ in UUID().uuidString.lowercased() }
        locked { state in
            for id in ids { state.datasets[dataset]?.rows[table, default: []].append((id, time, loadTag, [:])) }
        }
        return ids
    }

    /// A snapshot of `rows` new rows of a dataset table, as if made in TDR's UI.
    @discardableResult
    public func addSnapshot(name: String, table: String, rows: Int) -> (id: String, rows: [String]) {
        let id = UUID().uuidString.lowercased()
        let rowIDs = (0..<rows).map { _ in UUID().uuidString.lowercased() }
        locked { $0.snapshots[id] = (name, "", table, rowIDs) }
        return (id, rowIDs)
    }

    /// The dataset's row-metadata table is missing from BigQuery (a broken or foreign dataset).
    public func removeRowMetadata(_ dataset: String) { locked { $0.datasets[dataset]?.rowMetadataInBigQuery = false } }
    public func fail(_ failure: Failure) { locked { $0.failures.append(failure) } }
    public func clearFailures() { locked { $0.failures = [] } }
    public func delay(_ pattern: String, seconds: Double) { locked { $0.delays.append((pattern, seconds)) } }
    public func clearDelays() { locked { $0.delays = [] } }
    public func setOutcome(_ outcome: @escaping @Sendable (String, Int) -> Outcome) { locked { $0.outcome = outcome } }
    public func setHoldRunning(_ hold: Bool) { locked { $0.holdRunning = hold } }
    public func dropFromSubmissions(_ entities: Set<String>) { locked { $0.dropFromSubmissions = entities } }
    public func failNextSnapshotJobs(_ count: Int) { locked { $0.failSnapshotJobs = count } }
    public func failNextIngestJobs(_ count: Int) { locked { $0.failIngestJobs = count } }
    /// These entities' workflows report no `sample_id` output.
    public func omitSampleID(for entities: Set<String>) { locked { $0.withoutSampleID = entities } }
    public func rejectRows(withValue value: String) { locked { $0.badRowsFor.insert(value) } }
    /// Rows per BigQuery result page (BigQuery caps pages by size, whatever maxResults asks).
    public func setPageSize(_ rows: Int) { locked { $0.pageSize = rows } }
    public func setTokenLifetime(_ seconds: Int) { locked { $0.tokenLifetime = seconds } }
    public func setMethodConfigVersion(_ workspace: String, _ mc: String, _ version: Int) {
        locked { $0.workspaces[workspace]?.methodConfigs[mc]?["methodConfigVersion"] = .int(Int64(version)) }
    }

    /// A token this fake accepts, handed out directly (as `gcloud auth print-access-token` would).
    public func issueToken() -> String {
        locked { state in
            let token = "ya29.static-\(UUID().uuidString.prefix(8))"
            state.tokensIssued.append(token)
            return token
        }
    }

    public var tokenRequests: Int { locked { $0.tokenRequests } }
    public var authorizedCalls: Int { locked { $0.calls.count } }

    /// Calls made, as "METHOD /path" (service prefix included), optionally filtered.
    public func calls(_ method: String? = nil, matching pattern: String? = nil) -> [(path: String, body: JSONValue)] {
        locked { state in
            state.calls.filter { (method == nil || $0.method == method) && (pattern == nil || $0.path.contains(pattern!)) }
                .map { ($0.path, $0.body) }
        }
    }

    public func submissions() -> [(id: String, comment: String, request: JSONObject, entities: [String], methodConfiguration: String)] {
        locked { state in
            state.submissionOrder.compactMap { state.submissions[$0] }.map {
                ($0.id, $0.comment, $0.request, $0.workflows.map(\.entity), $0.methodConfiguration)
            }
        }
    }

    public func methodConfiguration(_ workspace: String, _ name: String) -> JSONObject? {
        locked { $0.workspaces[workspace]?.methodConfigs[name] }
    }

    public func methodConfigurations(_ workspace: String) -> [String] {
        locked { ($0.workspaces[workspace]?.methodConfigs.keys).map(Array.init)?.sorted() ?? [] }
    }

    public func entities(_ workspace: String, type: String) -> [String: JSONObject] {
        locked { $0.workspaces[workspace]?.entities[type] ?? [:] }
    }

    public func datasetRows(_ dataset: String, table: String) -> [JSONObject] {
        locked { ($0.datasets[dataset]?.rows[table] ?? []).map(\.values).filter { !$0.isEmpty } }
    }

    public func snapshotsOf(dataset: String) -> [(id: String, name: String, rows: [String])] {
        locked { state in
            state.snapshots.filter { $0.value.dataset == dataset }.map { ($0.key, $0.value.name, $0.value.rows) }.sorted {
                $0.name < $1.name
            }
        }
    }

    // MARK: Serving

    private func respond(_ request: Request) async throws -> Response {
        let rawPath = String(request.uri.path)
        let parts = rawPath.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        let path = "/" + parts.joined(separator: "/")
        let query = Dictionary(
            request.uri.queryParameters.map { (String($0.key), String($0.value).removingPercentEncoding ?? String($0.value)) },
            uniquingKeysWith: { a, _ in a })
        let text = String(buffer: try await request.body.collect(upTo: 16 << 20))
        let method = request.method.rawValue

        if let delay = locked({ state in state.delays.first { path.contains($0.pattern) }?.seconds }) {
            try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        }
        if path == "/token" { return token(text) }

        let authorization = request.headers[.authorization] ?? ""
        let (status, body): (Int, JSONValue) = locked { state in
            guard authorization.hasPrefix("Bearer "), state.tokensIssued.contains(String(authorization.dropFirst(7))) else {
                return (401, ["message": "invalid credentials"])
            }
            let json = (try? JSONValue.parse(text)) ?? .null
            state.calls.append((method, path + (request.uri.query.map { "?\($0)" } ?? ""), json))
            if let index = state.failures.firstIndex(where: {
                ($0.method == method || $0.method == "*") && path.contains($0.pattern) && $0.remaining > 0
            }) {
                state.failures[index].remaining -= 1
                let status = state.failures[index].status
                return (status, ["message": "upstream detail that must not leak: internal-id-7731", "statusCode": .int(Int64(status))])
            }
            return Self.route(method, parts, query: query, body: json, state: &state)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let data = body == .null ? "" : body.description
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: data)))
    }

    private func token(_ form: String) -> Response {
        var fields: [String: String] = [:]
        for pair in form.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if kv.count == 2 { fields[kv[0]] = kv[1] }
        }
        // A real check of the JWT: the signature against the key, the audience and the scopes.
        let pieces = (fields["assertion"] ?? "").split(separator: ".").map(String.init)
        var ok = fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" && pieces.count == 3
        if ok, let signature = Self.base64URLDecode(pieces[2]),
            let claims = Self.base64URLDecode(pieces[1]).flatMap({ try? JSONValue.parse($0) })
        {
            let valid = privateKey.publicKey.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: Data("\(pieces[0]).\(pieces[1])".utf8),
                padding: .insecurePKCS1v1_5)
            ok =
                valid && claims["aud"]?.stringValue == "\(url)/token" && (claims["scope"]?.stringValue ?? "").contains("cloud-platform")
                && claims["iss"]?.stringValue == "wfl-test@fake-project.iam.gserviceaccount.com"
        } else {
            ok = false
        }
        let (status, body): (Int, JSONValue) = locked { state in
            state.tokenRequests += 1
            guard ok else { return (400, ["error": "invalid_grant"]) }
            let token = "ya29.fake-\(state.tokenRequests)-\(UUID().uuidString.prefix(8))"
            state.tokensIssued.append(token)
            return (200, ["access_token": .string(token), "expires_in": .int(Int64(state.tokenLifetime)), "token_type": "Bearer"])
        }
        return Response(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body.description)))
    }

    static func base64URLDecode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    private static func notFound(_ what: String) -> (Int, JSONValue) { (404, ["message": .string("\(what) not found")]) }

    // swiftlint:disable:next cyclomatic_complexity
    private static func route(_ method: String, _ p: [String], query: [String: String], body: JSONValue, state: inout State) -> (
        Int, JSONValue
    ) {
        switch (method, p.first) {
        case (_, "fc"), (_, "rawls"):
            guard p.count >= 5, p[1] == "api", p[2] == "workspaces" else { return notFound("route") }
            let key = "\(p[3])/\(p[4])"
            guard state.workspaces[key] != nil else { return notFound("workspace \(key)") }
            return workspaceRoute(method, Array(p.dropFirst(5)), workspace: key, query: query, body: body, state: &state)
        case (_, "tdr"):
            return dataRepoRoute(method, Array(p.dropFirst(4)), query: query, body: body, state: &state)
        case (_, "bq"):
            return bigQueryRoute(method, p, query: query, body: body, state: &state)
        default:
            return notFound("route")
        }
    }

    // MARK: Firecloud and Rawls

    private static func workspaceRoute(
        _ method: String, _ p: [String], workspace key: String, query: [String: String],
        body: JSONValue, state: inout State
    ) -> (Int, JSONValue) {
        switch (method, p.count, p.first) {
        case ("GET", 0, _):
            let parts = key.split(separator: "/")
            return (
                200, ["workspace": ["namespace": .string(String(parts[0])), "name": .string(String(parts[1]))], "accessLevel": "WRITER"]
            )
        case ("GET", 3, "method_configs"):
            guard let mc = state.workspaces[key]!.methodConfigs["\(p[1])/\(p[2])"] else { return notFound("method configuration") }
            return (200, .object(mc))
        case ("PUT", 3, "method_configs"):
            let name = "\(p[1])/\(p[2])"
            guard state.workspaces[key]!.methodConfigs[name] != nil, let config = body.objectValue else {
                return notFound("method configuration")
            }
            state.workspaces[key]!.methodConfigs[name] = config
            return (200, body)
        case ("POST", 1, "methodconfigs"):
            guard let config = body.objectValue, let ns = config["namespace"]?.stringValue, let name = config["name"]?.stringValue else {
                return (400, ["message": "bad method configuration"])
            }
            guard state.workspaces[key]!.methodConfigs["\(ns)/\(name)"] == nil else { return (409, ["message": "exists"]) }
            state.workspaces[key]!.methodConfigs["\(ns)/\(name)"] = config
            return (201, body)
        case ("GET", 1, "entities"):
            let types = state.workspaces[key]!.entityTypes.mapValues { names -> JSONValue in
                ["count": 0, "idName": "id", "attributeNames": .array(names.map(JSONValue.string))]
            }
            return (200, .object(types))
        case ("POST", 2, "entities") where p[1] == "batchUpsert":
            for entity in body.arrayValue ?? [] {
                guard let type = entity["entityType"]?.stringValue, let name = entity["name"]?.stringValue,
                    state.workspaces[key]!.entityTypes[type] != nil
                else { return (400, ["message": "unknown entity type"]) }
                if name.contains("/") { return (400, ["message": "bad entity name"]) }
                var attributes = state.workspaces[key]!.entities[type]?[name] ?? [:]
                for op in entity["operations"]?.arrayValue ?? [] {
                    let attribute = op["attributeName"]?.stringValue ?? op["attributeListName"]?.stringValue ?? ""
                    switch op["op"]?.stringValue {
                    case "RemoveAttribute": attributes[attribute] = nil
                    case "AddUpdateAttribute": attributes[attribute] = op["addUpdateAttribute"]
                    case "CreateAttributeValueList": attributes[attribute] = .array([])
                    case "AddListMember":
                        attributes[attribute] = .array((attributes[attribute]?.arrayValue ?? []) + [op["newMember"] ?? .null])
                    default: return (400, ["message": "unknown op"])
                    }
                }
                state.workspaces[key]!.entities[type, default: [:]][name] = attributes
            }
            return (204, .null)
        case ("POST", 2, "snapshots") where p[1] == "v2":
            let snapshotID = body["snapshotId"]?.stringValue ?? ""
            let name = body["name"]?.stringValue ?? ""
            if state.workspaces[key]!.references.contains(where: { $0["metadata"]?["name"]?.stringValue == name }) {
                return (409, ["message": "A resource with this name already exists in the workspace"])
            }
            guard state.snapshots[snapshotID] != nil else { return notFound("snapshot") }
            let reference: JSONValue = [
                "metadata": [
                    "name": .string(name), "resourceId": .string(UUID().uuidString.lowercased()),
                    "workspaceId": "ws-id", "resourceType": "DATA_REPO_SNAPSHOT",
                ],
                "attributes": ["snapshot": .string(snapshotID), "instanceName": "terra"],
            ]
            state.workspaces[key]!.references.append(reference)
            return (200, reference)
        case ("GET", 2, "snapshots") where p[1] == "v2":
            let wanted = query["referencedSnapshotId"] ?? ""
            let offset = Int(query["offset"] ?? "0") ?? 0
            let matching = state.workspaces[key]!.references.filter { $0["attributes"]?["snapshot"]?.stringValue == wanted }
            return (200, ["gcpDataRepoSnapshots": .array(Array(matching.dropFirst(offset).prefix(Int(query["limit"] ?? "100") ?? 100)))])
        case ("POST", 1, "submissions"):
            return createSubmission(body, workspace: key, state: &state)
        case ("GET", 1, "submissions"):
            return (
                200,
                .array(
                    state.submissionOrder.compactMap { state.submissions[$0] }.filter { $0.workspace == key }.map {
                        [
                            "submissionId": .string($0.id), "userComment": .string($0.comment), "status": .string($0.status),
                            "methodConfigurationName": .string($0.methodConfiguration),
                        ]
                    })
            )
        case ("GET", 2, "submissions"):
            guard state.submissions[p[1]]?.workspace == key else { return notFound("submission") }
            advance(p[1], state: &state)
            return (200, submissionJSON(state.submissions[p[1]]!, dropping: state.dropFromSubmissions))
        case ("DELETE", 2, "submissions"):
            guard var submission = state.submissions[p[1]], submission.workspace == key else { return notFound("submission") }
            submission.aborted = true
            for index in submission.workflows.indices
            where !["Succeeded", "Failed", "Aborted"].contains(submission.workflows[index].status) {
                submission.workflows[index].status = submission.workflows[index].id == nil ? "Aborted" : "Aborting"
            }
            state.submissions[p[1]] = submission
            return (204, .null)
        case ("PATCH", 2, "submissions"):
            guard state.submissions[p[1]]?.workspace == key else { return notFound("submission") }
            state.submissions[p[1]]!.comment = body["userComment"]?.stringValue ?? ""
            return (200, .null)
        case ("POST", 3, "submissions") where p[2] == "retry":
            guard let original = state.submissions[p[1]], original.workspace == key else { return notFound("submission") }
            let retryType = body["retryType"]?.stringValue ?? ""
            let statuses: Set<String> =
                switch retryType {
                case "Failed": ["Failed"]
                case "Aborted": ["Aborted"]
                case "FailedAndAborted": ["Failed", "Aborted"]
                default: []
                }
            guard !statuses.isEmpty else { return (400, ["message": "bad retryType"]) }
            let retried = original.workflows.filter { statuses.contains($0.status) }
            guard !retried.isEmpty else { return (400, ["message": "no workflows to retry"]) }
            var request = original.request
            request["userComment"] = nil
            let id = newSubmission(
                workspace: key, methodConfiguration: original.methodConfiguration, comment: "", request: request,
                entities: retried.map { ($0.entityType, $0.entity) }, state: &state)
            return (
                201,
                [
                    "originalSubmissionId": .string(original.id), "submissionId": .string(id), "retryType": .string(retryType),
                    "status": "Submitted", "submitter": "wfl-test@fake-project.iam.gserviceaccount.com",
                    "workflows": .array(retried.map { ["entityName": .string($0.entity), "inputResolutions": []] }),
                ]
            )
        case ("GET", 5, "submissions") where p[2] == "workflows" && p[4] == "outputs":
            guard let submission = state.submissions[p[1]], let workflow = submission.workflows.first(where: { $0.id == p[3] }) else {
                return notFound("workflow")
            }
            var outputs: JSONObject = [
                "wf.sample_id": .string(workflow.entity), "wf.cram": .string("gs://fake-bucket/\(workflow.entity).cram"),
                "wf.metrics": .array([
                    .string("gs://fake-bucket/\(workflow.entity).a.txt"), .string("gs://fake-bucket/\(workflow.entity).b.txt"),
                ]),
                "wf.score": 42,
            ]
            if state.withoutSampleID.contains(workflow.entity) { outputs["wf.sample_id"] = nil }
            return (200, ["workflowId": .string(p[3]), "tasks": ["wf": ["logs": [:], "outputs": .object(outputs)]]])
        case ("GET", 4, "submissions") where p[2] == "workflows":
            return (400, ["message": "per-workflow status calls are what the launcher must not make"])
        default:
            return notFound("route")
        }
    }

    private static func createSubmission(_ body: JSONValue, workspace key: String, state: inout State) -> (Int, JSONValue) {
        guard let request = body.objectValue, let ns = request["methodConfigurationNamespace"]?.stringValue,
            let name = request["methodConfigurationName"]?.stringValue, request["useCallCache"]?.boolValue != nil
        else {
            return (400, ["message": "methodConfigurationNamespace, methodConfigurationName and useCallCache are required"])
        }
        guard let mc = state.workspaces[key]!.methodConfigs["\(ns)/\(name)"] else { return notFound("method configuration") }
        let rootType = mc["rootEntityType"]?.stringValue ?? ""
        var entities: [(String, String)]
        if let entity = request["entityName"]?.stringValue {
            entities = [(request["entityType"]?.stringValue ?? rootType, entity)]
        } else {
            guard let referenceName = mc["dataReferenceName"]?.stringValue,
                let reference = state.workspaces[key]!.references.first(where: { $0["metadata"]?["name"]?.stringValue == referenceName }),
                let snapshot = state.snapshots[reference["attributes"]?["snapshot"]?.stringValue ?? ""]
            else {
                return (400, ["message": "the method configuration has no data reference and the submission no entity"])
            }
            guard snapshot.table == rootType else { return (400, ["message": "rootEntityType is not a table of the snapshot"]) }
            entities = snapshot.rows.map { (rootType, $0) }
        }
        let id = newSubmission(
            workspace: key, methodConfiguration: "\(ns)/\(name)", comment: request["userComment"]?.stringValue ?? "",
            request: request, entities: entities, state: &state)
        return (
            201,
            [
                "submissionId": .string(id), "status": "Submitted", "submitter": "wfl-test@fake-project.iam.gserviceaccount.com",
                "header": ["entityType": .string(rootType)],
                "workflows": .array(entities.map { ["entityName": .string($0.1), "inputResolutions": []] }),
            ]
        )
    }

    private static func newSubmission(
        workspace: String, methodConfiguration: String, comment: String, request: JSONObject,
        entities: [(String, String)], state: inout State
    ) -> String {
        let id = UUID().uuidString.lowercased()
        let workflows = entities.map { type, entity -> Workflow in
            state.attempts[entity, default: 0] += 1
            return Workflow(
                id: nil, entityType: type, entity: entity, status: "Queued", outcome: state.outcome(entity, state.attempts[entity]!))
        }
        state.submissions[id] = Submission(
            id: id, workspace: workspace, methodConfiguration: methodConfiguration, comment: comment,
            request: request, workflows: workflows)
        state.submissionOrder.append(id)
        return id
    }

    /// Each read moves every workflow one step on.
    private static func advance(_ id: String, state: inout State) {
        guard var submission = state.submissions[id] else { return }
        for index in submission.workflows.indices {
            var workflow = submission.workflows[index]
            switch workflow.status {
            case "Queued":
                workflow.status = "Submitted"
                workflow.id = UUID().uuidString.lowercased()
            case "Submitted":
                workflow.status = "Running"
            case "Running" where !state.holdRunning:
                workflow.status = workflow.outcome.status
                workflow.messages = workflow.outcome.messages
            case "Aborting":
                workflow.status = "Aborted"
            default:
                break
            }
            submission.workflows[index] = workflow
        }
        state.submissions[id] = submission
    }

    private static func submissionJSON(_ submission: Submission, dropping: Set<String>) -> JSONValue {
        [
            "submissionId": .string(submission.id), "status": .string(submission.status), "userComment": .string(submission.comment),
            "methodConfigurationName": .string(submission.methodConfiguration), "useCallCache": true,
            "workflows": .array(
                submission.workflows.filter { !dropping.contains($0.entity) }.map { workflow in
                    JSONValue.object(
                        [
                            "workflowId": JSONValue(workflow.id), "status": .string(workflow.status),
                            "statusLastChangedDate": .string(Timestamp.format(Date())),
                            "workflowEntity": ["entityType": .string(workflow.entityType), "entityName": .string(workflow.entity)],
                            "messages": .array(workflow.messages.map(JSONValue.string)), "inputResolutions": [],
                        ].compacted)
                }),
        ]
    }

    // MARK: Terra Data Repository

    private static func dataRepoRoute(
        _ method: String, _ p: [String], query: [String: String], body: JSONValue,
        state: inout State
    ) -> (Int, JSONValue) {
        switch (method, p.count, p.first) {
        case ("GET", 2, "datasets"):
            guard let dataset = state.datasets[p[1]] else { return notFound("dataset") }
            return (
                200,
                [
                    "id": .string(dataset.id), "name": .string(dataset.name), "description": "a test dataset",
                    "defaultProfileId": "profile-1", "dataProject": "tdr-data-project",
                    "schema": [
                        "tables": .array(
                            dataset.tables.sorted { $0.key < $1.key }.map { name, columns in
                                [
                                    "name": .string(name),
                                    "columns": .array(
                                        columns.sorted { $0.key < $1.key }.map {
                                            ["name": .string($0.key), "datatype": .string($0.value), "array_of": false]
                                        }),
                                ]
                            })
                    ],
                    "accessInformation": [
                        "bigQuery": ["projectId": "tdr-data-project", "datasetName": .string("datarepo_\(dataset.name)")]
                    ],
                ]
            )
        case ("GET", 2, "snapshots"):
            guard let snapshot = state.snapshots[p[1]] else { return notFound("snapshot") }
            return (200, ["id": .string(p[1]), "name": .string(snapshot.name), "tables": [["name": .string(snapshot.table)]]])
        case ("GET", 1, "snapshots"):
            let name = query["filter"] ?? ""
            let items = state.snapshots.filter { $0.value.name.contains(name) }.map {
                ["id": .string($0.key), "name": .string($0.value.name)] as JSONValue
            }
            return (200, ["items": .array(items), "total": .int(Int64(items.count))])
        case ("POST", 1, "snapshots"):
            guard let name = body["name"]?.stringValue, let content = body["contents"]?[0],
                let datasetName = content["datasetName"]?.stringValue,
                let dataset = state.datasets.values.first(where: { $0.name == datasetName }),
                let spec = content["rowIdSpec"]?["tables"]?[0], let table = spec["tableName"]?.stringValue,
                body["readers"]?.arrayValue != nil, body["profileId"]?.stringValue != nil
            else {
                return (400, ["message": "malformed snapshot request"])
            }
            let rows = (spec["rowIds"]?.arrayValue ?? []).compactMap(\.stringValue)
            let job = UUID().uuidString.lowercased()
            var fail: String?
            if state.failSnapshotJobs > 0 {
                state.failSnapshotJobs -= 1
                fail = "the dataset is locked by another operation"
            }
            state.jobs[job] = Job(kind: "snapshot", pollsLeft: 1, fail: fail, result: .null) { state in
                if state.snapshots.values.contains(where: { $0.name == name }) { return .null }
                let id = UUID().uuidString.lowercased()
                state.snapshots[id] = (name, dataset.id, table, rows)
                return ["id": .string(id), "name": .string(name)]
            }
            return (202, ["id": .string(job), "job_status": "running"])
        case ("POST", 3, "datasets") where p[2] == "ingest":
            guard state.datasets[p[1]] != nil, body["format"]?.stringValue == "array", let table = body["table"]?.stringValue,
                let records = body["records"]?.arrayValue, body["load_tag"]?.stringValue != nil
            else {
                return (400, ["message": "malformed ingest request"])
            }
            let job = UUID().uuidString.lowercased()
            var fail: String?
            if state.failIngestJobs > 0 {
                state.failIngestJobs -= 1
                fail = "ingest failed: staging area unavailable"
            }
            let dataset = p[1]
            // TDR with max_bad_records 0: one bad record fails the whole job and loads nothing.
            let bad = records.filter { record in
                record.objectValue?.values.contains { state.badRowsFor.contains($0.stringValue ?? "") } == true
            }.count
            if fail == nil, bad > Int(body["max_bad_records"]?.intValue ?? 0) {
                fail = "Load failed: \(bad) bad record(s), more than max_bad_records"
            }
            state.jobs[job] = Job(kind: "ingest", pollsLeft: 1, fail: fail, result: .null) { state in
                for record in records {
                    state.datasets[dataset]?.rows[table, default: []].append(
                        (UUID().uuidString.lowercased(), Date(), "ingest", record.objectValue ?? [:]))
                }
                return ["dataset": .string(dataset), "table": .string(table), "row_count": .int(Int64(records.count)), "bad_row_count": 0]
            }
            return (202, ["id": .string(job), "job_status": "running"])
        case ("GET", 2, "jobs"):
            guard var job = state.jobs[p[1]] else { return notFound("job") }
            if job.pollsLeft > 0 {
                job.pollsLeft -= 1
                state.jobs[p[1]] = job
                return (200, ["id": .string(p[1]), "job_status": "running"])
            }
            if job.fail == nil, let finish = job.onSuccess {
                job.result = finish(&state)
                job.onSuccess = nil
                if job.result == .null { job.fail = "a snapshot with this name already exists" }
                state.jobs[p[1]] = job
            }
            return (200, ["id": .string(p[1]), "job_status": job.fail == nil ? "succeeded" : "failed"])
        case ("GET", 3, "jobs") where p[2] == "result":
            guard let job = state.jobs[p[1]] else { return notFound("job") }
            if let fail = job.fail { return (500, ["message": .string(fail), "errorDetail": []]) }
            return (200, job.result)
        default:
            return notFound("route")
        }
    }

    // MARK: BigQuery

    private static func bigQueryRoute(
        _ method: String, _ p: [String], query: [String: String], body: JSONValue,
        state: inout State
    ) -> (Int, JSONValue) {
        // /bq/bigquery/v2/projects/{project}/queries[/{job}]
        guard p.count >= 6, p[5] == "queries" else { return notFound("route") }
        if method == "POST" {
            let sql = body["query"]?.stringValue ?? ""
            var parameters: [String: String] = [:]
            for parameter in body["queryParameters"]?.arrayValue ?? [] {
                if let name = parameter["name"]?.stringValue { parameters[name] = parameter["parameterValue"]?["value"]?.stringValue }
            }
            var rows: [[String]] = []
            if sql.contains("__TABLES__") {
                let wanted = parameters["table"] ?? ""
                for dataset in state.datasets.values
                where sql.contains("datarepo_\(dataset.name).__TABLES__") && dataset.rowMetadataInBigQuery {
                    if dataset.tables.keys.contains(where: { "datarepo_row_metadata_\($0)" == wanted }) { rows.append([wanted]) }
                }
            } else if let match = sql.firstMatch(of: /`[^.`]+\.datarepo_([^.`]+)\.datarepo_row_metadata_([^`]+)`/) {
                let (datasetName, table) = (String(match.1), String(match.2))
                guard let dataset = state.datasets.values.first(where: { $0.name == datasetName }) else {
                    return (404, ["error": ["message": "Not found: Table"]])
                }
                let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
                guard let from = parameters["from"].flatMap({ try? Date($0, strategy: format) }),
                    let until = parameters["until"].flatMap({ try? Date($0, strategy: format) })
                else {
                    return (400, ["error": ["message": "from and until parameters are required"]])
                }
                for row in dataset.rows[table] ?? [] where row.ingested > from && row.ingested <= until {
                    if let tag = parameters["loadTag"], !row.loadTag.hasPrefix(tag) { continue }
                    if !row.values.isEmpty { continue }  // rows the sink ingested are not the source's rows
                    rows.append([row.id, Timestamp.format(row.ingested)])
                }
            } else {
                return (400, ["error": ["message": "unexpected query"]])
            }
            let job = "job_\(UUID().uuidString.prefix(12))"
            state.queries[job] = Query(rows: rows, incompleteReads: state.incompleteQueryReads)
            return (
                200,
                [
                    "kind": "bigquery#queryResponse",
                    "jobReference": ["projectId": .string(p[4]), "jobId": .string(job), "location": "US"],
                    "jobComplete": false,
                ]
            )
        }
        guard p.count == 7, var stored = state.queries[p[6]] else { return notFound("job") }
        if stored.incompleteReads > 0 {
            stored.incompleteReads -= 1
            state.queries[p[6]] = stored
            return (200, ["jobReference": ["jobId": .string(p[6])], "jobComplete": false])
        }
        let start = Int(query["pageToken"] ?? "0") ?? 0
        let page = Array(stored.rows.dropFirst(start).prefix(state.pageSize))
        var response: JSONObject = [
            "jobReference": ["jobId": .string(p[6])], "jobComplete": true, "totalRows": .string(String(stored.rows.count)),
            "rows": .array(page.map { row in ["f": .array(row.map { ["v": .string($0)] })] }),
        ]
        if start + page.count < stored.rows.count { response["pageToken"] = .string(String(start + page.count)) }
        return (200, .object(response))
    }
}
