import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import LauncherCore
import Logging
import NIOCore

/// How `wfl serve` tells who is calling.
public struct AuthConfiguration: Sendable {
    /// Off: every caller is an anonymous admin (local single-user use, loopback only).
    public var enabled: Bool
    /// `/metrics` without credentials.
    public var metricsPublic: Bool
    /// JWTs from an OIDC provider, when configured.
    public var oidc: OIDCVerifier?
    /// With authentication off on loopback: answer only requests addressed to a loopback name.
    /// A web page can make a browser send requests to 127.0.0.1 under its own name (DNS
    /// rebinding); the Host header it sends then names the page's site, and is refused.
    public var loopbackHostsOnly: Bool

    public init(enabled: Bool, metricsPublic: Bool = false, oidc: OIDCVerifier? = nil, loopbackHostsOnly: Bool = false) {
        self.enabled = enabled
        self.metricsPublic = metricsPublic
        self.oidc = oidc
        self.loopbackHostsOnly = loopbackHostsOnly
    }

    /// Whether a host (`127.0.0.1`, `localhost`, `::1`, `[::1]`) names this machine: 127.0.0.0/8
    /// written as four numbers, not a name that merely starts with "127.".
    public static func isLoopback(host: String) -> Bool {
        var host = host.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" || host == "::1" || host.hasSuffix(".localhost") { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Whether an authority (`127.0.0.1:3000`, `localhost`, `[::1]:8080`) names this machine.
    public static func isLoopback(authority: String) -> Bool {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return isLoopback(host: String(authority[...close]))
        }
        return isLoopback(host: authority.split(separator: ":", maxSplits: 1).first.map(String.init) ?? "")
    }

    public static let off = AuthConfiguration(enabled: false)

    /// From the settings: `WFL_AUTH`, `WFL_METRICS_PUBLIC`, and the `WFL_OIDC_*` group.
    public static func from(_ settings: Settings, enabled: Bool, logger: Logger) throws -> AuthConfiguration {
        AuthConfiguration(
            enabled: enabled, metricsPublic: settings.flag(.metricsPublic),
            oidc: try OIDCVerifier.from(settings, logger: logger))
    }
}

/// Reads `Authorization: Bearer …` (hummingbird-auth's parsing): an API token (`wfl_…`) is
/// looked up by its hash, anything else is verified as an OIDC JWT. A request without
/// credentials goes on without an identity; `AccessMiddleware` decides whether it may.
struct BearerAuthenticator: AuthenticatorMiddleware {
    typealias Context = LauncherRequestContext
    typealias Identity = Principal

    let service: WorkloadService
    let configuration: AuthConfiguration

    func authenticate(request: Request, context: LauncherRequestContext) async throws -> Principal? {
        guard configuration.enabled else { return nil }
        guard let header = request.headers[.authorization] else {
            // A browser on the dashboard carries its token in a cookie limited to /ui (set by
            // the login page); a stale one sends it back to the login page, not to an error.
            guard request.uri.path.hasPrefix("/ui/"), let token = DashboardSession.cookie(request, DashboardSession.sessionCookie),
                !token.isEmpty
            else { return nil }
            return try? await principal(forToken: token)
        }
        // hummingbird-auth's `bearer` matches "Bearer " exactly; the scheme is case-insensitive (RFC 7235).
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw LauncherError(.unauthenticated, "the Authorization header must be \"Bearer <token>\"")
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard header.utf8.count <= 16 * 1024 else { throw LauncherError(.unauthenticated, "the bearer token is empty or too long") }
        return try await principal(forToken: token)
    }

    /// Who a token (API token or OIDC JWT) stands for.
    func principal(forToken token: String) async throws -> Principal {
        guard !token.isEmpty, token.utf8.count <= 16 * 1024 else {
            throw LauncherError(.unauthenticated, "the bearer token is empty or too long")
        }
        if token.hasPrefix(APITokens.prefix) { return try await service.authenticate(apiToken: token) }
        guard let oidc = configuration.oidc else {
            throw LauncherError(.unauthenticated, "the bearer token is not an API token, and this server accepts no JWTs (no OIDC set up)")
        }
        return try await oidc.verify(token)
    }
}

/// With authentication on, every route but the open ones needs an identity (401 with
/// `WWW-Authenticate: Bearer` otherwise); roles are checked by the service layer. With it
/// off, every caller is the anonymous admin, named by a trusted proxy's header when present.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = LauncherRequestContext

    let configuration: AuthConfiguration
    let routes: RouteTable
    let trustedProxies: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if configuration.loopbackHostsOnly, let authority = request.head.authority, !AuthConfiguration.isLoopback(authority: authority) {
            throw LauncherError(
                .forbidden,
                "this server runs without authentication and answers only requests addressed to this machine (localhost, 127.0.0.1), not to \(Constraint.excerpt(authority, max: 100))"
            )
        }
        if !configuration.enabled {
            context.identity = Principal(name: proxyIdentity(request, context) ?? "anonymous", role: .admin, kind: .anonymous)
            return try await next(request, context)
        }
        if context.identity == nil, !routes.isOpen(request.method, request.uri.path, metricsPublic: configuration.metricsPublic) {
            throw LauncherError(.unauthenticated, "authentication required: send Authorization: Bearer <API token or OIDC JWT>")
        }
        // The route's least role, before its body is read: a caller who may not use the route
        // cannot make the server read and parse a large body first. The service checks again,
        // with each operation's own rules.
        if let identity = context.identity, case .role(let needed)? = routes.access(request.method, request.uri.path) {
            try identity.require(needed, to: "\(request.method.rawValue) \(request.uri.path)")
        }
        return try await next(request, context)
    }

    /// Who an authenticating proxy says is calling, believed only from proxies the operator
    /// trusts (`WFL_TRUSTED_PROXIES`) and only with authentication off.
    private func proxyIdentity(_ request: Request, _ context: Context) -> String? {
        guard let peer = context.remoteAddress?.ipAddress, trustedProxies.contains(peer) else { return nil }
        for name in ["X-Forwarded-Email", "X-Auth-Request-Email", "X-Forwarded-User"] {
            if let value = request.headers[HTTPField.Name(name)!], !value.isEmpty, value.utf8.count <= 320, !value.utf8.contains(0) {
                return value
            }
        }
        return nil
    }
}
