import Foundation
import HTTPTypes
import Hummingbird
import Logging
import LauncherCore

enum JSONResponses {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized() + "\n")))
    }

    /// `{"message": …, "details": …}` for every error response.
    static func error(_ status: HTTPResponse.Status, _ message: String, details: JSONValue = .null) -> Response {
        json(.object(["message": .string(message), "details": details].compacted), status: status)
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
        case .internalError: .internalServerError
        }
    }
}

/// Turns every error into a JSON response: `LauncherError`s with their status and details,
/// unknown routes and methods as 404/405, anything else as a 500 that names no internals.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as LauncherError {
            if !error.isClientError {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error.message)"])
            }
            return JSONResponses.error(error.kind.httpStatus, error.message, details: error.details)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                return JSONResponses.error(.notFound, "Route \(request.method) \(request.uri.path) not found")
            case .methodNotAllowed:
                return JSONResponses.error(.methodNotAllowed, "Method \(request.method) not allowed on \(request.uri.path)")
            case .contentTooLarge:
                return JSONResponses.error(.contentTooLarge, "request body too large")
            default:
                return JSONResponses.error(error.status, error.body ?? error.status.reasonPhrase)
            }
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            return JSONResponses.error(.internalServerError, "An internal error occurred; the server log has the details.")
        }
    }
}
