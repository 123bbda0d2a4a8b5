/// The errors the service layer reports to its callers. The HTTP layer maps `kind` onto a status
/// code and the CLI onto an exit code; neither adds rules of its own.
public struct LauncherError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The request is wrong: HTTP 400, CLI exit 2.
        case badRequest
        /// The named workload or workflow does not exist: HTTP 404, CLI exit 2.
        case notFound
        /// The request conflicts with the workload's state: HTTP 409, CLI exit 2.
        case conflict
        /// No credentials, or credentials that are not valid: HTTP 401, CLI exit 4.
        case unauthenticated
        /// The caller's role does not allow it: HTTP 403, CLI exit 4.
        case forbidden
        /// A dependency (database, backend) cannot be reached now: HTTP 503, CLI exit 1.
        case unavailable
        /// A bug or an unexpected failure: HTTP 500, CLI exit 1.
        case internalError
    }

    public var kind: Kind
    public var message: String
    /// Machine-readable context; for bad input it always names the offending `field`.
    public var details: JSONValue
    /// What only the operator should read (a database's own error text, an index name): logged
    /// and printed by the CLI, never sent in an HTTP response.
    public var internalDetail: String?

    public init(_ kind: Kind, _ message: String, details: JSONValue = .null, internalDetail: String? = nil) {
        self.kind = kind
        self.message = message
        self.details = details
        self.internalDetail = internalDetail
    }

    /// Bad input in one field: `field` is a path such as `executor.delaySeconds` or `source.items[3]`.
    public static func invalid(_ field: String, _ message: String, _ extra: JSONObject = [:]) -> LauncherError {
        var details = extra
        details["field"] = .string(field)
        return LauncherError(.badRequest, "\(field): \(message)", details: .object(details))
    }

    public static func notFound(_ message: String, _ details: JSONObject = [:]) -> LauncherError {
        LauncherError(.notFound, message, details: .object(details))
    }

    public var description: String { message }

    public var isClientError: Bool { [.badRequest, .notFound, .conflict, .unauthenticated, .forbidden].contains(kind) }
    public var isAccessError: Bool { [.unauthenticated, .forbidden].contains(kind) }
}
