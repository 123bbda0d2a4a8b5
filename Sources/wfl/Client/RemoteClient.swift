import Foundation
import LauncherCore
import LauncherStageSupport
import NIOCore
import NIOHTTP1

/// A `wfl serve` over its HTTP API, with the token in `WFL_TOKEN`. Answers are read into the
/// same views the database path makes; the server's errors become the same `LauncherError`
/// kinds (so the same exit codes: 2 for a refused request, 4 for a missing token or role, 1
/// for a server that cannot answer).
struct RemoteClient: LauncherClient {
    /// The server's base URL, without a trailing slash.
    let server: String
    let token: String?
    let http: BackendClient

    /// The server `--server` or `WFL_SERVER` names, if any.
    static func chosen(_ options: GlobalOptions, settings: Settings = .process) throws -> RemoteClient? {
        guard let text = options.server ?? settings[.server], !text.isEmpty else { return nil }
        let field = options.server != nil ? "--server" : Settings.Key.server.rawValue
        return try RemoteClient(server: text, token: settings[.token], field: field)
    }

    init(server text: String, token: String?, field: String = "--server") throws {
        guard text.utf8.count <= 2048, var components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else {
            throw LauncherError.invalid(
                field, "expected the server's http(s) URL, such as https://wfl.example.org, got \"\(text.prefix(200))\"")
        }
        guard components.user == nil, components.password == nil, components.query == nil, components.fragment == nil else {
            throw LauncherError.invalid(field, "the server's URL takes no user, password, query or fragment; the token goes in WFL_TOKEN")
        }
        let token = token.flatMap { $0.isEmpty ? nil : $0 }
        if let token {
            // A header value: visible ASCII only (no line breaks to smuggle headers with).
            guard token.utf8.count <= 8192, token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw LauncherError.invalid(Settings.Key.token.rawValue, "a token is at most 8192 visible ASCII characters, without spaces")
            }
            // A bearer token in clear text is anyone's who can watch the network.
            if scheme == "http" && !Serve.isLoopback(host) {
                throw LauncherError.invalid(
                    field, "refusing to send WFL_TOKEN over plain http to \(host): use the server's https URL")
            }
        }
        while components.path.hasSuffix("/") { components.path.removeLast() }
        server = components.string ?? text
        self.token = token
        http = BackendClient(service: "the server at \(server)", timeout: .seconds(300)) {
            token.map { [("Authorization", "Bearer \($0)")] } ?? []
        }
    }

    // MARK: Workloads

    func create(_ request: JSONValue, start: Bool) async throws -> WorkloadSummary {
        try .read(try await call(.POST, start ? "/api/v1/exec" : "/api/v1/create", body: request).json)
    }

    func workload(_ uuid: UUID) async throws -> WorkloadSummary { try .read(try await call(.GET, "/api/v1/workload/\(id(uuid))").json) }
    func start(_ uuid: UUID) async throws -> WorkloadSummary {
        try .read(try await call(.POST, "/api/v1/start", body: ["uuid": .string(id(uuid))]).json)
    }
    func stop(_ uuid: UUID) async throws -> WorkloadSummary {
        try .read(try await call(.POST, "/api/v1/stop", body: ["uuid": .string(id(uuid))]).json)
    }
    func abort(_ uuid: UUID) async throws -> WorkloadSummary { try .read(try await call(.POST, "/api/v1/workload/\(id(uuid))/abort").json) }

    func workloads(
        project: String?, state: String?, label: String?, creator: String?, sort: String?, cursor: String?, limit: Int?
    ) async throws -> Page<WorkloadSummary> {
        try await page(
            "/api/v1/workload", ["project": project, "state": state, "label": label, "creator": creator, "sort": sort], cursor: cursor,
            limit: limit)
    }

    func workflows(
        _ uuid: UUID, status: String?, submission: String?, includeRetried: Bool, cursor: String?, limit: Int?
    ) async throws -> Page<WorkflowSummary> {
        try await page(
            "/api/v1/workload/\(id(uuid))/workflows",
            ["status": status, "submission": submission, "includeRetried": includeRetried ? "true" : nil], cursor: cursor, limit: limit)
    }

    func events(_ uuid: UUID, cursor: String?, limit: Int?) async throws -> Page<EventSummary> {
        try await page("/api/v1/workload/\(id(uuid))/events", [:], cursor: cursor, limit: limit)
    }

    func workflow(_ uuid: UUID) async throws -> WorkflowSummary { try .read(try await call(.GET, "/api/v1/workflow/\(id(uuid))").json) }

    func logs(_ workload: UUID, workflow: UUID, stream: LogStream, tail: Int?, from: Int64?) async throws -> LogChunk {
        var query = "stream=\(stream.rawValue)"
        if let tail { query += "&tail=\(tail)" }
        if let from { query += "&from=\(from)" }
        let reply = try await call(.GET, "/api/v1/workload/\(id(workload))/workflows/\(id(workflow))/logs?\(query)")
        func number(_ name: String) -> Int64? { reply.headers.first(name: name).flatMap { Int64($0) } }
        // The server's offsets are checked, not trusted: a follower does arithmetic on them.
        guard let start = number("X-Log-Start"), let end = number("X-Log-End"), let size = number("X-Log-Size"),
            0 <= start, start <= end, end <= size, end - start <= Int64(LogReader.maxBytes)
        else {
            throw LauncherError(
                .unavailable, "the server's answer has no consistent X-Log-Start, X-Log-End and X-Log-Size; are both the same version?")
        }
        return LogChunk(
            text: reply.text, start: start, end: end, size: size, truncated: reply.headers.first(name: "X-Log-Truncated") == "true")
    }

    func retry(_ uuid: UUID, request: JSONValue) async throws -> [WorkflowSummary] {
        // The server answers with the workload, as WFL does; the new attempts are under `retried`.
        let answer = try await call(.POST, "/api/v1/workload/\(id(uuid))/retry", body: request).json
        guard let retried = answer["retried"]?.arrayValue else {
            throw LauncherError(.unavailable, "the server's answer to the retry lists no retried workflows; are both the same version?")
        }
        return try .readAll(retried)
    }

    func redeliver(_ uuid: UUID, request: JSONValue) async throws -> WorkloadSummary {
        try .read(try await call(.POST, "/api/v1/workload/\(id(uuid))/redeliver", body: request).json)
    }

    func stages() async throws -> [JSONValue] { try list(try await call(.GET, "/api/v1/stages").json) }

    // MARK: Tokens

    func createToken(_ request: JSONValue) async throws -> TokenSummary {
        try .read(try await call(.POST, "/api/v1/tokens", body: request).json)
    }
    func tokens() async throws -> [TokenSummary] { try .readAll(try list(try await call(.GET, "/api/v1/tokens").json)) }
    func revokeToken(name: String) async throws -> TokenSummary {
        try .read(try await call(.DELETE, "/api/v1/tokens/\(BackendClient.escape(name))").json)
    }

    func advance(_ uuid: UUID) async {}
    var carriesOn: String { "The workload goes on at \(server)." }

    // MARK: Calls

    private func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }

    /// A page of a listing. `limit` is always sent: without it the server streams the whole
    /// listing (as WFL does), and a command shows one page at a time.
    private func page<View: APIView>(
        _ path: String, _ query: [String: String?], cursor: String?, limit: Int?
    ) async throws -> Page<View> {
        var parameters = query.compactMapValues { $0 }
        parameters["limit"] = String(limit ?? WorkloadService.defaultPageSize)
        if let cursor { parameters["cursor"] = cursor }
        let encoded = parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(BackendClient.escape($0.value))" }
        let reply = try await call(.GET, path + "?" + encoded.joined(separator: "&"))
        // A cursor is the server's opaque text, but it is printed and sent back: short and plain only.
        let next = reply.headers.first(name: "X-Next-Cursor").flatMap { cursor in
            cursor.utf8.count <= 200 && cursor.utf8.allSatisfy { (0x21...0x7E).contains($0) } ? cursor : nil
        }
        return Page(items: try .readAll(try list(reply.json)), nextCursor: next)
    }

    private func list(_ json: JSONValue) throws -> [JSONValue] {
        guard let items = json.arrayValue else {
            throw LauncherError(.unavailable, "the server answered with \(json.typeName) where a list belongs; are both the same version?")
        }
        return items
    }

    /// One request; a reply other than 2xx becomes the error the server described.
    private func call(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> BackendClient.Reply {
        let reply: BackendClient.Reply
        do {
            reply = try await http.send(method, server + path, body: body.map { .json($0) })
        } catch let error as BackendError {
            throw LauncherError(.unavailable, "cannot reach the server: \(error)")
        }
        if (200..<300).contains(reply.status) { return reply }
        throw failure(reply)
    }

    /// The server's error answer (`{"message", "details", "requestId"}`) as the kind of error
    /// the service layer would have thrown here.
    func failure(_ reply: BackendClient.Reply) -> LauncherError {
        let body = reply.json
        var message = body["message"]?.stringValue.map { BackendError.sanitise($0, limit: 4000) } ?? "HTTP \(reply.status) from \(server)"
        let kind: LauncherError.Kind
        switch reply.status {
        case 401:
            kind = .unauthenticated
            if token == nil { message += " (set WFL_TOKEN to a token from `wfl token create`, or an OIDC JWT)" }
        case 403: kind = .forbidden
        case 404: kind = .notFound
        case 409: kind = .conflict
        case 400..<500: kind = .badRequest
        case 500: kind = .internalError
        default: kind = .unavailable
        }
        if !(400..<500).contains(reply.status), let request = body["requestId"]?.stringValue {
            message += " (request \(BackendError.sanitise(request, limit: 80)))"
        }
        // Only `details` as the API defines it: an object (naming the field for bad input).
        var details = body["details"]?.objectValue ?? [:]
        for key in ["field", "link"] {
            if let text = details[key]?.stringValue {
                details[key] = .string(BackendError.sanitise(text, limit: key == "link" ? 2048 : 200))
            }
        }
        return LauncherError(kind, message, details: details.isEmpty ? .null : .object(details))
    }
}
