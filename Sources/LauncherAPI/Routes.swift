import Foundation
import HTTPTypes
import Hummingbird
import LauncherCore
import Logging
import Metrics
import NIOCore

/// The request context: Hummingbird's own, plus the peer's address (to tell a trusted proxy's
/// identity headers from anyone else's).
public struct LauncherRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// The HTTP API: WFL's paths and shapes, over the same service layer the CLI uses.
public struct APIRoutes: Sendable {
    let service: WorkloadService
    let metrics: @Sendable () -> String
    let maxBodySize: Int
    let loop: LoopStatus?
    /// Peers whose `X-Forwarded-Email` is believed (an authenticating proxy in front).
    let trustedProxies: Set<String>

    public init(
        service: WorkloadService, maxBodySize: Int = 256 << 20, loop: LoopStatus? = nil, trustedProxies: [String] = [],
        metrics: @escaping @Sendable () -> String = { "" }
    ) {
        self.service = service
        self.metrics = metrics
        self.maxBodySize = maxBodySize
        self.loop = loop
        self.trustedProxies = Set(trustedProxies)
    }

    /// Every route, with its method: for 405 and for the OpenAPI document.
    static let table = RouteTable(routes: [
        (.get, "/"), (.get, "/status"), (.get, "/version"), (.get, "/health"), (.get, "/metrics"),
        (.get, "/api/v1/stages"), (.post, "/api/v1/create"), (.post, "/api/v1/exec"), (.post, "/api/v1/start"), (.post, "/api/v1/stop"),
        (.get, "/api/v1/workload"), (.get, "/api/v1/workload/:uuid"), (.get, "/api/v1/workload/:uuid/workflows"),
        (.get, "/api/v1/workload/:uuid/events"), (.post, "/api/v1/workload/:uuid/retry"), (.post, "/api/v1/workload/:uuid/abort"),
        (.post, "/api/v1/workload/:uuid/redeliver"),
    ])

    public func router() -> Router<LauncherRequestContext> {
        let router = Router(context: LauncherRequestContext.self)
        router.addMiddleware {
            ErrorMiddleware<LauncherRequestContext>(routes: Self.table, maxBodySize: maxBodySize)
            MetricsMiddleware<LauncherRequestContext>()
        }

        router.get("/") { _, _ in JSONResponses.json(["status": "OK"]) }
        router.get("/status") { _, _ in JSONResponses.json(["status": "OK"]) }
        router.get("/version") { _, _ in
            JSONResponses.json(["version": .string(service.environment.version), "name": "workflow-launcher"])
        }
        router.get("/health") { _, context in try await health(context) }
        router.get("/metrics") { _, _ in
            // Workloads in trouble, counted when scraped (one query, not one per pass).
            if let trouble = try? await service.store.troubleCounts() {
                Gauge(label: "wfl_workloads_quarantined").record(trouble.quarantined)
                Gauge(label: "wfl_workloads_backing_off").record(trouble.backingOff)
            }
            if let last = loop?.lastPass {
                Gauge(label: "wfl_update_last_completed_pass_timestamp_seconds").record(last.timeIntervalSince1970)
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: metrics())))
        }

        let api = router.group("api/v1")
        api.get("stages") { _, _ in JSONResponses.json(.array(service.stages)) }
        api.post("create") { request, context in
            let body = try await jsonBody(request)
            return JSONResponses.json(try await service.create(body, creator: creator(request, context), start: false).json)
        }
        api.post("exec") { request, context in
            let body = try await jsonBody(request)
            return JSONResponses.json(try await service.create(body, creator: creator(request, context), start: true).json)
        }
        api.post("start") { request, _ in
            JSONResponses.json(try await service.start(try await uuidBody(request)).json)
        }
        api.post("stop") { request, _ in
            JSONResponses.json(try await service.stop(try await uuidBody(request)).json)
        }
        api.get("workload") { request, _ in
            let query = request.uri.queryParameters
            let uuid = try text(query, "uuid", max: 64)
            let project = try text(query, "project")
            if uuid != nil && project != nil {
                throw LauncherError.invalid("uuid", "give uuid or project, not both")
            }
            if let uuid {
                return JSONResponses.page(
                    [try await service.workload(WorkloadService.parseUUID(uuid)).json],
                    nextCursor: nil, request: request)
            }
            let page = try await service.workloads(project: project, cursor: try text(query, "cursor", max: 200), limit: try limit(query))
            return JSONResponses.page(page.items.map(\.json), nextCursor: page.nextCursor, request: request)
        }
        api.get("workload/:uuid") { _, context in
            JSONResponses.json(try await service.workload(pathUUID(context)).json)
        }
        api.get("workload/:uuid/workflows") { request, context in
            let query = request.uri.queryParameters
            let page = try await service.workflows(
                try pathUUID(context), status: try text(query, "status", max: 64), submission: try text(query, "submission"),
                includeRetried: try flag(query, "includeRetried"), cursor: try text(query, "cursor", max: 200), limit: try limit(query))
            return JSONResponses.page(page.items.map(\.json), nextCursor: page.nextCursor, request: request)
        }
        api.get("workload/:uuid/events") { request, context in
            let query = request.uri.queryParameters
            let page = try await service.events(try pathUUID(context), cursor: try text(query, "cursor", max: 200), limit: try limit(query))
            return JSONResponses.page(page.items.map(\.json), nextCursor: page.nextCursor, request: request)
        }
        api.post("workload/:uuid/retry") { request, context in
            let uuid = try pathUUID(context)
            let created = try await service.retry(uuid, request: try await jsonBody(request))
            return JSONResponses.json(.array(created.map(\.json)))
        }
        api.post("workload/:uuid/abort") { _, context in
            JSONResponses.json(try await service.abort(pathUUID(context)).json)
        }
        api.post("workload/:uuid/redeliver") { request, context in
            let uuid = try pathUUID(context)
            return JSONResponses.json(try await service.redeliver(uuid, request: try await jsonBody(request, allowEmpty: true)).json)
        }
        return router
    }

    /// 200 when the database answers (within a second) and the update loop completes passes;
    /// 503 with the reasons otherwise.
    private func health(_ context: LauncherRequestContext) async throws -> Response {
        var problems: [String] = []
        var database = "reachable"
        do {
            try await service.store.ping()
        } catch {
            database = "unreachable"
            problems.append("the database does not answer")
        }
        if let problem = loop?.problem() { problems.append(problem) }
        var body: JSONObject = ["status": problems.isEmpty ? "OK" : "unavailable", "database": .string(database)]
        if let loop {
            body["updateLoop"] = .object(
                [
                    "lastPass": Timestamp.json(loop.lastPass), "lastHealthyPass": Timestamp.json(loop.lastHealthyPass),
                    "intervalSeconds": .double(loop.interval),
                ].compacted)
        }
        if !problems.isEmpty {
            body["problems"] = .array(problems.map(JSONValue.string))
            body["message"] = .string(problems.joined(separator: "; "))
        }
        return JSONResponses.json(.object(body), status: problems.isEmpty ? .ok : .serviceUnavailable)
    }

    // MARK: Request parsing

    private func jsonBody(_ request: Request, allowEmpty: Bool = false) async throws -> JSONValue {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxBodySize)
        } catch let error as NIOTooManyBytesError {
            throw error
        } catch {
            // A malformed chunked body, or a client that went away mid-body.
            throw LauncherError(.badRequest, "the request body could not be read (malformed or cut short)", details: ["field": ""])
        }
        guard buffer.readableBytes > 0 else {
            if allowEmpty { return .object([:]) }
            throw LauncherError(.badRequest, "the request body is empty; expected a JSON object", details: ["field": ""])
        }
        let data = Data(buffer.readableBytesView)
        do {
            // A large body is parsed off the server's event loops, so other requests go on.
            if data.count > 64 << 10 { return try await Task.detached { try JSONValue.parse(data) }.value }
            return try JSONValue.parse(data)
        } catch {
            throw LauncherError(.badRequest, "the request body is not valid JSON: \(error)", details: ["field": ""])
        }
    }

    private func uuidBody(_ request: Request) async throws -> UUID {
        let body = try await jsonBody(request)
        guard let object = body.objectValue else {
            throw LauncherError.invalid("uuid", "expected a body {\"uuid\": …}, got \(body.typeName)")
        }
        guard let value = object["uuid"], !value.isNull else { throw LauncherError.invalid("uuid", "required") }
        guard let text = value.stringValue else { throw LauncherError.invalid("uuid", "expected a string, got \(value.typeName)") }
        return try WorkloadService.parseUUID(text)
    }

    private func pathUUID(_ context: LauncherRequestContext) throws -> UUID {
        try WorkloadService.parseUUID(context.parameters.get("uuid") ?? "")
    }

    /// A query parameter's text: at most `max` bytes and no NUL, else a 400 naming it.
    private func text(_ query: Parameters, _ name: String, max: Int = 1024) throws -> String? {
        guard let value = query[Substring(name)].map(String.init) else { return nil }
        try Constraint.text(max: max).checkText(value, at: FieldPath(name))
        return value
    }

    private func limit(_ query: Parameters) throws -> Int? {
        guard let text = try text(query, "limit", max: 20) else { return nil }
        guard let value = Int(text) else { throw LauncherError.invalid("limit", "expected a whole number, got \"\(text)\"") }
        return value
    }

    private func flag(_ query: Parameters, _ name: String) throws -> Bool {
        guard let text = try text(query, name, max: 10) else { return false }
        switch text.lowercased() {
        case "true", "1", "yes", "": return true
        case "false", "0", "no": return false
        default: throw LauncherError.invalid(name, "expected true or false, got \"\(text)\"")
        }
    }

    /// Who is creating the workload: an authenticating proxy's header when the request comes
    /// from a proxy the operator trusts (`WFL_TRUSTED_PROXIES`); anyone else's is ignored.
    private func creator(_ request: Request, _ context: LauncherRequestContext) -> String {
        guard let peer = context.remoteAddress?.ipAddress, trustedProxies.contains(peer) else { return "anonymous" }
        for name in ["X-Forwarded-Email", "X-Auth-Request-Email", "X-Forwarded-User"] {
            if let value = request.headers[HTTPField.Name(name)!], !value.isEmpty, value.utf8.count <= 320, !value.utf8.contains(0) {
                return value
            }
        }
        return "anonymous"
    }
}
