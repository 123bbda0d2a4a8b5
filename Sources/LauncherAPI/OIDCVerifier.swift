import AsyncHTTPClient
import Foundation
import JWTKit
import LauncherCore
import Logging
import NIOCore
import NIOHTTP1

/// Verifies OIDC JWTs locally (jwt-kit): the signature against a JSON Web Key Set (RS256 or
/// ES256 only; `none` and HMAC are refused before any key is tried), then the issuer, the
/// audience, expiry and not-before. The `email` claim is the identity (the workload's
/// creator); its role comes from `WFL_OIDC_ROLES`.
///
/// The key set is a file, read at start, or an `https` URL (plain `http` only to a loopback
/// address), fetched at start and again after an hour, or sooner (at most once a minute) when
/// a token names a key it does not have, as a provider's key rotation requires.
public actor OIDCVerifier {
    public enum KeySource: Sendable, Equatable { case file(String), url(String) }

    let source: KeySource
    let issuer: String
    let audience: String
    let roles: RoleMapping
    let groupsClaim: String
    let logger: Logger
    private var keys: JWTKeyCollection?
    private var keyIDs: Set<String> = []
    private var fetchedAt: Date?
    private var lastAttempt: Date?

    static let acceptedAlgorithms: Set<String> = ["RS256", "ES256"]

    public init(source: KeySource, issuer: String, audience: String, roles: RoleMapping, groupsClaim: String = "groups", logger: Logger) {
        self.source = source
        self.issuer = issuer
        self.audience = audience
        self.roles = roles
        self.groupsClaim = groupsClaim
        self.logger = logger
    }

    /// The verifier the settings describe; nil when `WFL_OIDC_JWKS` is unset. The issuer and
    /// audience are then required: a JWT is only as good as the checks on its claims.
    public static func from(_ settings: Settings, logger: Logger) throws -> OIDCVerifier? {
        guard let jwks = settings[.oidcJWKS] else { return nil }
        guard let issuer = settings[.oidcIssuer] else {
            throw LauncherError.invalid(Settings.Key.oidcIssuer.rawValue, "required with WFL_OIDC_JWKS: the issuer accepted JWTs carry")
        }
        guard let audience = settings[.oidcAudience] else {
            throw LauncherError.invalid(Settings.Key.oidcAudience.rawValue, "required with WFL_OIDC_JWKS: the audience accepted JWTs carry")
        }
        let source: KeySource
        if jwks.hasPrefix("https://") || jwks.hasPrefix("http://") {
            guard let url = URL(string: jwks), let host = url.host else {
                throw LauncherError.invalid(Settings.Key.oidcJWKS.rawValue, "\"\(Constraint.excerpt(jwks))\" is not a URL")
            }
            if url.scheme == "http" && !AuthConfiguration.isLoopback(host: host) {
                throw LauncherError.invalid(Settings.Key.oidcJWKS.rawValue, "a key set URL must use https (plain http only on loopback)")
            }
            source = .url(jwks)
        } else {
            source = .file(jwks)
        }
        let roles = try RoleMapping(parsing: settings[.oidcRoles] ?? "")
        return OIDCVerifier(
            source: source, issuer: issuer, audience: audience, roles: roles, groupsClaim: settings[.oidcGroupsClaim] ?? "groups",
            logger: logger)
    }

    /// Loads the key set now, so a wrong file or URL stops `serve` at start with its reason.
    public func load() async throws {
        try await refresh()
    }

    /// The principal a JWT stands for; a 401 saying what is wrong with it otherwise.
    public func verify(_ token: String) async throws -> Principal {
        let header = try Self.header(token)
        guard let algorithm = header["alg"]?.stringValue, Self.acceptedAlgorithms.contains(algorithm) else {
            throw LauncherError(
                .unauthenticated,
                "the JWT's algorithm \"\(Constraint.excerpt(header["alg"]?.stringValue ?? "none", max: 20))\" is not accepted; use RS256 or ES256"
            )
        }
        let kid = header["kid"]?.stringValue
        if keys == nil || stale || (kid.map { !keyIDs.contains($0) } ?? false) && mayRetry {
            do {
                try await refresh()
            } catch  where keys != nil {
                logger.warning("could not refresh the OIDC key set; using the one loaded before", metadata: ["error": "\(error)"])
            }
        }
        guard let keys else { throw LauncherError(.unavailable, "the OIDC key set could not be loaded") }
        if let kid, !keyIDs.contains(kid) {
            throw LauncherError(.unauthenticated, "the JWT is signed with a key the key set does not have")
        }
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch {
            throw LauncherError(.unauthenticated, "the JWT's signature does not verify", internalDetail: "\(error)")
        }
        return try principal(claims.values)
    }

    /// Checks the claims and maps the identity onto a role.
    func principal(_ claims: JSONObject, now: Date = Date()) throws -> Principal {
        guard claims["iss"]?.stringValue == issuer else {
            throw LauncherError(.unauthenticated, "the JWT's issuer is not \(issuer)")
        }
        let audiences = claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? claims["aud"]?.stringValue.map { [$0] } ?? []
        guard audiences.contains(audience) else { throw LauncherError(.unauthenticated, "the JWT is not meant for this server (audience)") }
        guard let exp = claims["exp"]?.doubleValue else { throw LauncherError(.unauthenticated, "the JWT has no expiry (exp)") }
        guard Date(timeIntervalSince1970: exp) > now else { throw LauncherError(.unauthenticated, "the JWT has expired") }
        if let nbf = claims["nbf"]?.doubleValue, Date(timeIntervalSince1970: nbf) > now.addingTimeInterval(60) {
            throw LauncherError(.unauthenticated, "the JWT is not valid yet (nbf)")
        }
        // Roles go by e-mail and domain, so the provider must vouch for the address.
        let verified = claims["email_verified"]?.boolValue ?? (claims["email_verified"]?.stringValue == "true")
        guard verified else { throw LauncherError(.unauthenticated, "the JWT's e-mail is not verified (email_verified)") }
        guard let email = claims["email"]?.stringValue, email.contains("@"), email.utf8.count <= 320 else {
            throw LauncherError(.unauthenticated, "the JWT carries no e-mail claim to identify its holder")
        }
        let groups = claims[groupsClaim]?.arrayValue?.compactMap(\.stringValue) ?? []
        return Principal(name: email, role: roles.role(email: email, groups: groups), kind: .oidc)
    }

    private var stale: Bool {
        guard case .url = source, let fetchedAt else { return false }
        return Date().timeIntervalSince(fetchedAt) > 3600 && mayRetry
    }

    private var mayRetry: Bool { lastAttempt.map { Date().timeIntervalSince($0) > 60 } ?? true }

    private func refresh() async throws {
        lastAttempt = Date()
        let text: String
        switch source {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw LauncherError(.unavailable, "cannot read the OIDC key set file \(path)")
            }
            text = String(decoding: data, as: UTF8.self)
        case .url(let url):
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/json")
            let response: HTTPClientResponse
            let body: ByteBuffer
            do {
                response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                body = try await response.body.collect(upTo: 1 << 20)
            } catch {
                throw LauncherError(.unavailable, "the OIDC key set at \(url) did not answer", internalDetail: "\(error)")
            }
            guard response.status == .ok else {
                throw LauncherError(.unavailable, "the OIDC key set at \(url) answered \(response.status.code)")
            }
            text = String(buffer: body)
        }
        let (collection, ids, skipped) = try await Self.usableKeys(text)
        for (key, reason) in skipped {
            logger.notice("OIDC key set: a key is skipped", metadata: ["kid": "\(key)", "reason": "\(reason)"])
        }
        keys = collection
        keyIDs = ids
        fetchedAt = Date()
        logger.info("OIDC key set loaded", metadata: ["keys": "\(ids.count)", "skipped": "\(skipped.count)"])
    }

    /// The key set's RS256 and ES256 signing keys, added one by one: a provider's set often
    /// also holds encryption keys, other algorithms or key types this library does not read,
    /// and one of those must not make every token unverifiable. Fails only when no key is left.
    static func usableKeys(_ text: String) async throws -> (JWTKeyCollection, Set<String>, [(String, String)]) {
        guard let set = try? JSONValue.parse(Data(text.utf8)), let entries = set["keys"]?.arrayValue else {
            throw LauncherError(.unavailable, "the OIDC key set is not a JWKS (a JSON object with a \"keys\" list)")
        }
        let collection = JWTKeyCollection()
        var ids: Set<String> = []
        var skipped: [(String, String)] = []
        for entry in entries.prefix(100) {
            let raw = entry["kid"]?.stringValue
            let kid = raw.map { Constraint.excerpt($0, max: 80) } ?? "(none)"
            let reason: String?
            if raw == nil {
                reason = "no kid"
            } else if let use = entry["use"]?.stringValue, use != "sig" {
                reason = "use \(Constraint.excerpt(use, max: 20)), not sig"
            } else if let alg = entry["alg"]?.stringValue, !acceptedAlgorithms.contains(alg) {
                reason = "algorithm \(Constraint.excerpt(alg, max: 20)) is not accepted"
            } else if !["RSA", "EC"].contains(entry["kty"]?.stringValue ?? "") {
                reason = "key type \(Constraint.excerpt(entry["kty"]?.stringValue ?? "none", max: 20)) is not RSA or EC"
            } else {
                do {
                    try await collection.add(jwk: try JSONDecoder().decode(JWK.self, from: Data(entry.serialized().utf8)))
                    reason = nil
                } catch {
                    reason = "unreadable: \(Constraint.excerpt("\(error)", max: 200))"
                }
            }
            if let reason { skipped.append((kid, reason)) } else if let raw { ids.insert(raw) }
        }
        if entries.count > 100 { skipped.append(("…", "\(entries.count - 100) keys past the first 100")) }
        guard !ids.isEmpty else {
            throw LauncherError(
                .unavailable, "the OIDC key set has no usable RS256 or ES256 signing key",
                internalDetail: skipped.map { "\($0.0): \($0.1)" }.joined(separator: "; "))
        }
        return (collection, ids, skipped)
    }

    /// The JWT's header, decoded without trusting anything in it yet.
    static func header(_ token: String) throws -> JSONObject {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(parts[0]), let header = (try? JSONValue.parse(data))?.objectValue else {
            throw LauncherError(.unauthenticated, "the bearer token is neither an API token nor a JWT")
        }
        return header
    }

    /// Every claim, kept as JSON: the checks above read the ones they need.
    struct Claims: JWTPayload {
        let values: JSONObject

        init(values: JSONObject) { self.values = values }

        init(from decoder: any Decoder) throws {
            guard case .object(let object) = try JSONValue(from: decoder) else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the claims are not an object"))
            }
            values = object
        }

        func encode(to encoder: any Encoder) throws { try JSONValue.object(values).encode(to: encoder) }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
