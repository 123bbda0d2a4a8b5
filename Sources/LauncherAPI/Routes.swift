import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import LauncherCore
import Logging
import Metrics
import NIOCore

/// The request context: Hummingbird's own, the caller's identity (hummingbird-auth's), and the
/// peer's address (to tell a trusted proxy's identity headers from anyone else's).
public struct LauncherRequestContext: AuthRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var identity: Principal?

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
    /// Peers whose `X-Forwarded-Email` is believed (an authenticating proxy in front), with
    /// authentication off.
    let trustedProxies: Set<String>
    let auth: AuthConfiguration

    public init(
        service: WorkloadService, maxBodySize: Int = 256 << 20, loop: LoopStatus? = nil, trustedProxies: [String] = [],
        auth: AuthConfiguration = .off, metrics: @escaping @Sendable () -> String = { "" }
    ) {
        self.service = service
        self.metrics = metrics
        self.maxBodySize = maxBodySize
        self.loop = loop
        self.trustedProxies = Set(trustedProxies)
        self.auth = auth
    }

    /// Every route, with its method and who may call it (from `APIContract`): for 401s, 405s
    /// and the access test.
    static let table = RouteTable(
        routes: APIContract.routes(StageRegistry()).map { ($0.method, $0.path, $0.access) }
            + Dashboard.routes.map { ($0.0, $0.1, .open) })

    /// The service acting for the caller (the anonymous admin with authentication off).
    private func caller(_ context: LauncherRequestContext) throws -> WorkloadService {
        guard let principal = context.identity else {
            throw LauncherError(.unauthenticated, "authentication required: send Authorization: Bearer <API token or OIDC JWT>")
        }
        return service.acting(as: principal)
    }

    public func router() -> Router<LauncherRequestContext> {
        let router = Router(context: LauncherRequestContext.self)
        router.addMiddleware {
            ErrorMiddleware<LauncherRequestContext>(routes: Self.table, maxBodySize: maxBodySize)
            MetricsMiddleware<LauncherRequestContext>()
            BearerAuthenticator(service: service, configuration: auth)
            AccessMiddleware(configuration: auth, routes: Self.table, trustedProxies: trustedProxies)
        }

        // A browser asking for / goes to the dashboard; every other client gets WFL's status.
        router.get("/") { request, _ in
            if request.headers[.accept]?.contains("text/html") == true {
                return Response(status: .found, headers: [.location: "/ui/"])
            }
            return JSONResponses.json(["status": "OK"])
        }
        Dashboard(service: service, auth: auth).register(router)
        router.get("/status") { _, _ in JSONResponses.json(["status": "OK"]) }
        router.get("/version") { _, _ in
            var body: JSONObject = ["version": .string(service.environment.version), "name": "workflow-launcher"]
            body.merge(BuildInfo.current.json) { old, _ in old }
            return JSONResponses.json(.object(body))
        }
        router.get("/health") { _, context in try await health(context) }
        let document = APIContract.document(service.registry, version: service.environment.version)
        let page = APIDocs.html(document)
        router.get("/openapi.json") { _, _ in JSONResponses.json(document) }
        router.get("/docs") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
        }
        router.get("/metrics") { _, context in
            if auth.enabled && !auth.metricsPublic { try caller(context).principal.require(.viewer, to: "read metrics") }
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
        api.get("stages") { _, context in JSONResponses.json(.array(try caller(context).stages())) }
        api.post("create") { request, context in
            let service = try caller(context)
            let body = try await jsonBody(request)
            return JSONResponses.json(try await service.create(body, start: false).json)
        }
        api.post("exec") { request, context in
            let service = try caller(context)
            let body = try await jsonBody(request)
            return JSONResponses.json(try await service.create(body, start: true).json)
        }
        api.post("start") { request, context in
            let service = try caller(context)
            return JSONResponses.json(try await service.start(try await uuidBody(request)).json)
        }
        api.post("stop") { request, context in
            let service = try caller(context)
            return JSONResponses.json(try await service.stop(try await uuidBody(request)).json)
        }
        api.get("tokens") { _, context in
            JSONResponses.json(.array(try await caller(context).tokens().map(\.json)))
        }
        api.post("tokens") { request, context in
            let service = try caller(context)
            return JSONResponses.json(try await service.createToken(try await jsonBody(request)).json)
        }
        api.delete("tokens/:name") { _, context in
            let service = try caller(context)
            let raw = context.parameters.get("name") ?? ""  // the router does not percent-decode
            return JSONResponses.json(try await service.revokeToken(name: raw.removingPercentEncoding ?? raw).json)
        }
        api.get("workload") { request, context in
            let service = try caller(context)
            let query = formQuery(request)
            let uuid = try QueryParameters.uuid.text(query)
            let project = try QueryParameters.project.text(query)
            let (state, label, creator, sort) = (
                try QueryParameters.state.text(query), try QueryParameters.label.text(query), try QueryParameters.creator.text(query),
                try QueryParameters.sort.text(query)
            )
            if uuid != nil && (project != nil || state != nil || label != nil || creator != nil) {
                throw LauncherError.invalid("uuid", "give uuid or filters (project, state, label, creator), not both")
            }
            if let uuid {
                return JSONResponses.page(
                    [try await service.workload(WorkloadService.parseUUID(uuid)).json],
                    nextCursor: nil, request: request)
            }
            let (cursor, limit) = (try QueryParameters.cursor.text(query), try QueryParameters.limit.integer(query))
            if cursor == nil && limit == nil {
                let listing = try await service.allWorkloads(project: project, state: state, label: label, creator: creator, sort: sort)
                return try await JSONResponses.stream(listing, context: context) { $0.json }
            }
            let page = try await service.workloads(
                project: project, state: state, label: label, creator: creator, sort: sort, cursor: cursor, limit: limit)
            return JSONResponses.page(page.items.map(\.json), nextCursor: page.nextCursor, request: request)
        }
        api.get("workload/:uuid") { _, context in
            JSONResponses.json(try await caller(context).workload(pathUUID(context)).json)
        }
        api.get("workload/:uuid/workflows") { request, context in
            let service = try caller(context)
            let query = formQuery(request)
            let (status, submission) = (try QueryParameters.status.text(query), try QueryParameters.submission.text(query))
            let (uuid, includeRetried) = (try pathUUID(context), try QueryParameters.includeRetried.flag(query))
            let (cursor, limit) = (try QueryParameters.cursor.text(query), try QueryParameters.limit.integer(query))
            if cursor == nil && limit == nil {
                let listing = try await service.allWorkflows(uuid, status: status, submission: submission, includeRetried: includeRetried)
                return try await JSONResponses.stream(listing, context: context) { $0.json }
            }
            let page = try await service.workflows(
                uuid, status: status, submission: submission, includeRetried: includeRetried, cursor: cursor, limit: limit)
            return JSONResponses.page(page.items.map(\.json), nextCursor: page.nextCursor, request: request)
        }
        api.get("workflow/:uuid") { _, context in
            let found = try await caller(context).workflow(pathUUID(context))
            var object = found.record.json.objectValue ?? [:]
            object["workload"] = .string(found.workload.uuidString.lowercased())
            return JSONResponses.json(.object(object))
        }
        api.get("workload/:uuid/workflows/:workflow/logs") { request, context in
            let service = try caller(context)
            let query = formQuery(request)
            let workflow = try WorkloadService.parseUUID(context.parameters.get("workflow") ?? "", field: "workflow")
            let chunk = try await service.logs(
                try pathUUID(context), workflow: workflow, stream: try QueryParameters.stream.text(query),
                tail: try QueryParameters.tail.integer(query), from: try QueryParameters.from.integer(query).map(Int64.init))
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/plain; charset=utf-8", HTTPField.Name("X-Log-Size")!: String(chunk.size),
                    HTTPField.Name("X-Log-Start")!: String(chunk.start), HTTPField.Name("X-Log-End")!: String(chunk.end),
                    HTTPField.Name("X-Log-Truncated")!: String(chunk.truncated),
                ],
                body: ResponseBody(byteBuffer: ByteBuffer(string: chunk.text)))
        }
        api.get("workload/:uuid/events") { request, context in
            let service = try caller(context)
            let query = formQuery(request)
            let (uuid, cursor, limit) = (
                try pathUUID(context), try QueryParameters.cursor.text(query), try QueryParameters.limit.integer(query)
            )
            if cursor == nil && limit == nil {
                return try await JSONResponses.stream(try await service.allEvents(uuid), context: context) { $0.json }
            }
            let page = try await service.events(uuid, cursor: cursor, limit: limit)
            return JSONResponses.page(page.items.map(\.json), nextCursor: page.nextCursor, request: request)
        }
        api.post("workload/:uuid/retry") { request, context in
            let service = try caller(context)
            let uuid = try pathUUID(context)
            let created = try await service.retry(uuid, request: try await jsonBody(request))
            // WFL answers a retry with the workload; the new workflows are under `retried`.
            var workload = try await service.workload(uuid).json.objectValue ?? [:]
            workload["retried"] = .array(created.map(\.json))
            return JSONResponses.json(.object(workload))
        }
        api.post("workload/:uuid/abort") { _, context in
            JSONResponses.json(try await caller(context).abort(pathUUID(context)).json)
        }
        api.post("workload/:uuid/redeliver") { request, context in
            let service = try caller(context)
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

    func formQuery(_ request: Request) -> [String: String] { FormEncoding.query(request) }
}
