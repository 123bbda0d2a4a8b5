import Crypto
import Foundation

/// An API token as stored: never the token itself, only its SHA-256 (tokens are 256 random
/// bits, so a fast hash is as good as a slow one and lets each request look one up by index).
public struct APITokenRecord: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var createdAt: Date
    public var createdBy: String
    public var expires: Date?
    public var revokedAt: Date?

    public init(name: String, role: Role, createdAt: Date, createdBy: String, expires: Date?, revokedAt: Date? = nil) {
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.expires = expires
        self.revokedAt = revokedAt
    }

    public func isValid(at now: Date = Date()) -> Bool {
        revokedAt == nil && (expires.map { $0 > now } ?? true)
    }

    public var json: JSONValue {
        .object(
            [
                "name": .string(name), "role": .string(role.rawValue), "created": Timestamp.json(createdAt),
                "createdBy": .string(createdBy), "expires": Timestamp.json(expires), "revoked": Timestamp.json(revokedAt),
            ].compacted)
    }
}

public struct NewAPIToken: Sendable {
    public var name: String
    public var role: Role
    public var hash: [UInt8]
    public var createdBy: String
    public var expires: Date?

    public init(name: String, role: Role, hash: [UInt8], createdBy: String, expires: Date?) {
        self.name = name
        self.role = role
        self.hash = hash
        self.createdBy = createdBy
        self.expires = expires
    }
}

public enum APITokens {
    /// Every token starts with this, so a token is told from a JWT at a glance (and by
    /// secret scanners).
    public static let prefix = "wfl_"

    /// 32 random bytes, URL-safe base64 without padding.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return prefix + Base64URL.encode(Data(bytes))
    }

    public static func hash(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(token.utf8)))
    }

    /// Token names: what `wfl token revoke NAME` takes.
    public static let nameConstraint = Constraint.matching(
        "[A-Za-z0-9][A-Za-z0-9._-]{0,99}", "letters, digits, '.', '_' and '-', starting with a letter or digit; at most 100")
    // No '@': a token's name is recorded as the creator, and must never pass for an OIDC e-mail.

    /// `30d`, `12h`, `90m` or `3600s`: a lifetime of one minute to ten years.
    public static func parseLifetime(_ text: String, field: String) throws -> TimeInterval {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count > 0,
            count <= 10 * 366 * 86400
        else {
            throw LauncherError.invalid(field, "expected a lifetime such as 30d, 12h or 90m, got \"\(Constraint.excerpt(text))\"")
        }
        let seconds = Double(count) * unit
        guard (60...(10 * 366 * 86400)).contains(seconds) else {
            throw LauncherError.invalid(field, "a token's lifetime must be between 1 minute and 10 years, got \(text)")
        }
        return seconds
    }
}
