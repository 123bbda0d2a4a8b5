import Foundation
import Logging

/// API tokens: made, listed and revoked by admins; looked up by hash for every request that
/// carries one.
extension WorkloadService {
    /// A new token. The token itself is in the result only: it is never stored.
    public struct CreatedToken: Sendable {
        public var record: APITokenRecord
        public var token: String

        public var json: JSONValue {
            var object = record.json.objectValue ?? [:]
            object["token"] = .string(token)
            return .object(object)
        }
    }

    public func createToken(_ request: JSONValue) async throws -> CreatedToken {
        try principal.require(.admin, to: "create tokens")
        guard case .object(let object) = request else {
            throw LauncherError(.badRequest, "a token request must be a JSON object, got \(request.typeName)", details: ["field": ""])
        }
        let parsed = try TokenRequest.decode(object, at: "", context: .request, what: "a token request")
        let expires = try parsed.expires.map { Date().addingTimeInterval(try APITokens.parseLifetime($0, field: "expires")) }
        let token = APITokens.generate()
        let record = try await store.createToken(
            NewAPIToken(name: parsed.name, role: parsed.role, hash: APITokens.hash(token), createdBy: principal.name, expires: expires))
        logger.notice("token created", metadata: ["token": "\(record.name)", "role": "\(record.role.rawValue)", "by": "\(principal.name)"])
        return CreatedToken(record: record, token: token)
    }

    public func tokens() async throws -> [APITokenRecord] {
        try principal.require(.admin, to: "list tokens")
        return try await store.tokens()
    }

    public func revokeToken(name: String) async throws -> APITokenRecord {
        try principal.require(.admin, to: "revoke tokens")
        try APITokens.nameConstraint.checkText(name, at: FieldPath("name"))
        guard let revoked = try await store.revokeToken(name: name) else {
            throw LauncherError.notFound("No live token named \(name)", ["name": .string(name)])
        }
        logger.notice("token revoked", metadata: ["token": "\(name)", "by": "\(principal.name)"])
        return revoked
    }

    /// The principal an API token stands for; a 401 for an unknown, revoked or expired one
    /// (saying which, so its holder knows to ask for a new one).
    public func authenticate(apiToken token: String) async throws -> Principal {
        guard token.utf8.count <= 200, let record = try await store.token(hash: APITokens.hash(token)) else {
            throw LauncherError(.unauthenticated, "the API token is not known")
        }
        if record.revokedAt != nil { throw LauncherError(.unauthenticated, "the API token \(record.name) was revoked") }
        if let expires = record.expires, expires <= Date() {
            throw LauncherError(.unauthenticated, "the API token \(record.name) expired at \(Timestamp.format(expires))")
        }
        return Principal(name: record.name, role: record.role, kind: .token)
    }
}
