import Foundation
import HTTPTypes
import Hummingbird
import LauncherCore
import Logging
import NIOCore

enum JSONResponses {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized() + "\n")))
    }

    /// `{"message": …, "details": …, "requestId": …}` for every error response.
    static func error(
        _ status: HTTPResponse.Status, _ message: String, details: JSONValue = .null, requestID: String? = nil,
        headers: HTTPFields = [:]
    ) -> Response {
        var headers = headers
        if let requestID { headers[HTTPField.Name("X-Request-Id")!] = requestID }
        return json(
            .object(["message": .string(message), "details": details, "requestId": JSONValue(requestID)].compacted),
            status: status, headers: headers)
    }

    /// A whole listing as one JSON array, written page by page as it is read: memory stays
    /// that of one page however long the listing. A failure once the answer has begun cannot
    /// change its status: it is logged and the connection closed, so the client sees an
    /// incomplete array, never a complete-looking wrong one.
    static func stream<Element: Sendable>(
        _ listing: Listing<Element>, context: some RequestContext, json: @escaping @Sendable (Element) -> JSONValue
    ) async throws -> Response {
        let logger = context.logger
        let firstPage = try await listing.firstPage()
        let body = ResponseBody { writer in
            var first = true
            func encode(_ page: [Element]) -> ByteBuffer {
                var text = ""
                for element in page {
                    if !first { text += "," }
                    first = false
                    text += json(element).serialized()
                }
                return ByteBuffer(string: text)
            }
            try await writer.write(ByteBuffer(string: "["))
            try await writer.write(encode(firstPage))
            do {
                try await listing.forEachPage(after: firstPage) { page in try await writer.write(encode(page)) }
            } catch {
                logger.error("a streamed listing failed part way; closing the connection", metadata: ["error": "\(error)"])
                throw error
            }
            try await writer.write(ByteBuffer(string: "]\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: body)
    }

    /// A page as a JSON array (WFL's shape); the next page's cursor goes in `X-Next-Cursor`
    /// and a `Link: <…>; rel="next"` header.
    static func page(_ items: [JSONValue], nextCursor: String?, request: Request) -> Response {
        var headers = HTTPFields()
        if let nextCursor {
            headers[HTTPField.Name("X-Next-Cursor")!] = nextCursor
            var components = URLComponents()
            components.path = request.uri.path
            var query = (URLComponents(string: request.uri.description)?.queryItems ?? []).filter { $0.name != "cursor" }
            query.append(URLQueryItem(name: "cursor", value: nextCursor))
            components.queryItems = query
            headers[HTTPField.Name("Link")!] = "<\(components.string ?? "")>; rel=\"next\""
        }
        return json(.array(items), headers: headers)
    }
}

extension LauncherError.Kind {
    var httpStatus: HTTPResponse.Status {
        switch self {
        case .badRequest: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .unavailable: .serviceUnavailable
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .internalError: .internalServerError
        }
    }
}

/// The routes the API serves, by method and path pattern (`:uuid` matches one segment): for
/// `405 Method Not Allowed` with an `Allow` header, and for the OpenAPI document.
struct RouteTable: Sendable {
    /// Who may call a route: anyone, or a caller with at least a role (the service layer
    /// checks the role again, with the operation's own rules).
    enum Access: Sendable, Equatable {
        case open
        /// Open when `WFL_METRICS_PUBLIC` says so, else viewers.
        case metrics
        case role(Role)
    }

    var routes: [(method: HTTPRequest.Method, path: String, access: Access)] = []

    private func matching(_ path: String) -> [(method: HTTPRequest.Method, path: String, access: Access)] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.filter { route in
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: true)
            return pattern.count == segments.count && zip(pattern, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }
    }

    /// The methods the path is served with (empty: an unknown path).
    func methods(for path: String) -> [HTTPRequest.Method] { matching(path).map(\.method) }

    /// Who may call the route the request names; nil for an unknown route.
    func access(_ method: HTTPRequest.Method, _ path: String) -> Access? {
        matching(path).first(where: { $0.method == method || (method == .head && $0.method == .get) })?.access
    }

    /// Whether the route answers without credentials. Unknown routes are not open, so a caller
    /// without credentials learns nothing of what exists.
    func isOpen(_ method: HTTPRequest.Method, _ path: String, metricsPublic: Bool) -> Bool {
        switch access(method, path) {
        case .open?: true
        case .metrics?: metricsPublic
        case .role?, nil: false
        }
    }
}

/// Turns every error into a JSON response that names no internals:
///
/// - `LauncherError`s with their status and details; a 5xx says what failed in words fit
///   for a user and carries the request id, while the internal text goes to the log with it;
/// - an unknown route as 404, a known route with another method as 405 with `Allow`;
/// - a body over the limit as 413 with the limit; a body that cannot be read as 400;
/// - anything else as a 500 with the request id.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable
    let maxBodySize: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[HTTPField.Name("X-Request-Id")!] = context.id
            return response
        } catch let error as LauncherError {
            if error.kind == .unauthenticated {
                if let detail = error.internalDetail {
                    context.logger.notice("credentials refused", metadata: ["reason": "\(error.message)", "internal": "\(detail)"])
                }
                // RFC 6750: say how to authenticate, and that the token given (if any) is bad.
                let given = request.headers[.authorization] != nil
                let challenge = given ? "Bearer realm=\"wfl\", error=\"invalid_token\"" : "Bearer realm=\"wfl\""
                return JSONResponses.error(
                    .unauthorized, error.message, details: error.details, requestID: context.id, headers: [.wwwAuthenticate: challenge])
            }
            if error.isClientError {
                return JSONResponses.error(error.kind.httpStatus, error.message, details: error.details, requestID: context.id)
            }
            context.logger.error(
                "request failed",
                metadata: [
                    "path": "\(request.uri.path)", "error": "\(error.message)", "internal": "\(error.internalDetail ?? "")",
                ])
            return JSONResponses.error(error.kind.httpStatus, error.message, requestID: context.id)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound, .methodNotAllowed:
                let allowed = routes.methods(for: request.uri.path)
                if !allowed.isEmpty && !allowed.contains(request.method) {
                    let names = allowed.map(\.rawValue)
                    return JSONResponses.error(
                        .methodNotAllowed,
                        "Method \(request.method) not allowed on \(request.uri.path); allowed: \(names.joined(separator: ", "))",
                        details: ["allowed": .array(names.map(JSONValue.string))], requestID: context.id,
                        headers: [.allow: names.joined(separator: ", ")])
                }
                return JSONResponses.error(.notFound, "Route \(request.method) \(request.uri.path) not found", requestID: context.id)
            case .contentTooLarge:
                return tooLarge(context)
            default:
                return JSONResponses.error(error.status, error.body ?? error.status.reasonPhrase, requestID: context.id)
            }
        } catch is NIOTooManyBytesError {
            return tooLarge(context)
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            return JSONResponses.error(
                .internalServerError, "An internal error occurred; the server log has the details under this request id.",
                requestID: context.id)
        }
    }

    private func tooLarge(_ context: Context) -> Response {
        JSONResponses.error(
            .contentTooLarge, "the request body is larger than the \(maxBodySize) bytes this server accepts",
            details: ["limit": .int(Int64(maxBodySize))], requestID: context.id)
    }
}
