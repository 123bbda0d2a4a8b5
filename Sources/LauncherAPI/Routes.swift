import Foundation
import HTTPTypes
import Hummingbird
import Logging
import LauncherCore

/// The HTTP API: WFL's paths and shapes, over the same service layer the CLI uses.
public struct APIRoutes: Sendable {
    let service: WorkloadService
    let metrics: @Sendable () -> String
    let maxBodySize: Int

    public init(service: WorkloadService, maxBodySize: Int = 256 << 20, metrics: @escaping @Sendable () -> String = { "" }) {
        self.service = service
        self.metrics = metrics
        self.maxBodySize = maxBodySize
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.addMiddleware { ErrorMiddleware<BasicRequestContext>() }

        router.get("/") { _, _ in JSONResponses.json(["status": "OK"]) }
        router.get("/status") { _, _ in JSONResponses.json(["status": "OK"]) }
        router.get("/version") { _, _ in
            JSONResponses.json(["version": .string(service.environment.version), "name": "workflow-launcher"])
        }
        router.get("/health") { _, _ in
            do {
                try await service.store.ping()
                return JSONResponses.json(["status": "OK", "database": "reachable"])
            } catch {
                return JSONResponses.error(.serviceUnavailable, "database unreachable", details: ["error": .string("\(error)")])
            }
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics())))
        }

        let api = router.group("api/v1")
        api.get("stages") { _, _ in JSONResponses.json(.array(service.stages)) }
        api.post("create") { request, context in
            let body = try await jsonBody(request)
            return JSONResponses.json(try await service.create(body, creator: creator(request), start: false).json)
        }
        api.post("exec") { request, context in
            let body = try await jsonBody(request)
            return JSONResponses.json(try await service.create(body, creator: creator(request), start: true).json)
        }
        api.post("start") { request, _ in
            JSONResponses.json(try await service.start(try await uuidBody(request)).json)
        }
        api.post("stop") { request, _ in
            JSONResponses.json(try await service.stop(try await uuidBody(request)).json)
        }
        api.get("workload") { request, _ in
            let query = request.uri.queryParameters
            let uuid = query["uuid"].map(String.init)
            let project = query["project"].map(String.init)
            if uuid != nil && project != nil {
                throw LauncherError.invalid("uuid", "give uuid or project, not both")
            }
            if let uuid {
                return JSONResponses.page([try await service.workload(WorkloadService.parseUUID(uuid)).json],
                                          nextCursor: nil, request: request)
            }
            let page = try await service.workloads(project: project, cursor: query["cursor"].map(String.init), limit: try limit(query))
            return JSONResponses.page(page.items.map(\.json), nextCursor: page.nextCursor, request: request)
        }
        api.get("workload/:uuid") { _, context in
            JSONResponses.json(try await service.workload(pathUUID(context)).json)
        }
        api.get("workload/:uuid/workflows") { request, context in
            let query = request.uri.queryParameters
            let page = try await service.workflows(
                try pathUUID(context), status: query["status"].map(String.init), submission: query["submission"].map(String.init),
                includeRetried: try flag(query, "includeRetried"), cursor: query["cursor"].map(String.init), limit: try limit(query))
            return JSONResponses.page(page.items.map(\.json), nextCursor: page.nextCursor, request: request)
        }
        api.get("workload/:uuid/events") { request, context in
            let query = request.uri.queryParameters
            let page = try await service.events(try pathUUID(context), cursor: query["cursor"].map(String.init), limit: try limit(query))
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
        return router
    }

    // MARK: Request parsing

    private func jsonBody(_ request: Request) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBodySize)
        guard buffer.readableBytes > 0 else {
            throw LauncherError(.badRequest, "the request body is empty; expected a JSON object", details: ["field": ""])
        }
        do {
            return try JSONValue.parse(Data(buffer.readableBytesView))
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

    private func pathUUID(_ context: BasicRequestContext) throws -> UUID {
        try WorkloadService.parseUUID(context.parameters.get("uuid") ?? "")
    }

    private func limit(_ query: Parameters) throws -> Int? {
        guard let text = query["limit"] else { return nil }
        guard let value = Int(text) else { throw LauncherError.invalid("limit", "expected a whole number, got \"\(text)\"") }
        return value
    }

    private func flag(_ query: Parameters, _ name: String) throws -> Bool {
        guard let text = query[Substring(name)] else { return false }
        switch text.lowercased() {
        case "true", "1", "yes", "": return true
        case "false", "0", "no": return false
        default: throw LauncherError.invalid(name, "expected true or false, got \"\(text)\"")
        }
    }

    /// Who is creating the workload: an authenticating proxy's header, if one sits in front.
    private func creator(_ request: Request) -> String {
        for name in ["X-Forwarded-Email", "X-Auth-Request-Email", "X-Forwarded-User"] {
            if let value = request.headers[HTTPField.Name(name)!], !value.isEmpty { return value }
        }
        return "anonymous"
    }
}
