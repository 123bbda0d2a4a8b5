import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LauncherCore

/// The browser's side of authentication and CSRF protection.
///
/// - A browser sends no bearer header, so with authentication on, the login page takes an API
///   token (or an OIDC JWT) and keeps it in an HttpOnly, SameSite=Strict cookie limited to
///   `/ui`; the authenticator reads it there as it reads the header elsewhere.
/// - Every form carries a CSRF token: an HMAC, under a key made at start, of a random value
///   kept in its own cookie. A page on another site can neither read the cookie nor compute
///   the HMAC, and SameSite=Strict keeps the cookies off its requests anyway. With
///   authentication off (loopback) this is what stops a web page from driving the launcher.
struct DashboardSession: Sendable {
    static let sessionCookie = "wfl_session"
    static let csrfCookie = "wfl_csrf"
    private let key = SymmetricKey(size: .bits256)

    /// The CSRF seed the browser holds, or a new one (with the header that sets it).
    func seed(_ request: Request) -> (seed: String, setCookie: String?) {
        if let seed = Self.cookie(request, Self.csrfCookie), seed.utf8.count == 22, Base64URL.decode(seed) != nil {
            return (seed, nil)
        }
        var generator = SystemRandomNumberGenerator()
        let seed = Base64URL.encode(Data((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }))
        return (seed, Self.setCookie(Self.csrfCookie, seed, request: request, maxAge: 86_400 * 30))
    }

    /// The form token for a seed and the session it belongs to: a token made for one login
    /// (or for none) is no good for another, so a seed planted by another site on this host
    /// (cookies ignore ports) buys nothing once the user logs in.
    func token(for seed: String, session: String?) -> String {
        let sessionHash = SHA256.hash(data: Data((session ?? "").utf8))
        return Base64URL.encode(Data(HMAC<SHA256>.authenticationCode(for: Data(seed.utf8) + Data(sessionHash), using: key)))
    }

    func token(for seed: String, request: Request) -> String {
        token(for: seed, session: Self.cookie(request, Self.sessionCookie))
    }

    /// A form post is ours: its token matches the browser's seed, and its origin (when the
    /// browser says) is this server.
    func check(_ request: Request, form: [String: String]) throws {
        // Browsers say where a form comes from (Origin, or Sec-Fetch-Site); one that says
        // neither is not a browser form of ours.
        let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!]
        if let origin = request.headers[.origin], origin != "null" {
            guard let authority = request.head.authority, let url = URL(string: origin), let host = url.host,
                Self.normalised(host: host, port: url.port) == Self.normalised(authority: authority)
            else {
                throw LauncherError(.forbidden, "the form was sent from another site (\(Constraint.excerpt(origin, max: 80)))")
            }
        } else if site != "same-origin" {
            throw LauncherError(
                .forbidden, "the form does not say where it comes from (no Origin header); send it from the dashboard's own page")
        }
        guard let seed = Self.cookie(request, Self.csrfCookie), let sent = form["csrf"],
            Data(sent.utf8) == Data(token(for: seed, request: request).utf8)
        else {
            throw LauncherError(.forbidden, "the form is stale or was not made by this server; reload the page and try again")
        }
    }

    /// `host:port` in lower case, IPv6 without brackets, the port only when it is not 80.
    static func normalised(host: String, port: Int?) -> String {
        var host = host.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return port.map { $0 == 80 ? host : "\(host):\($0)" } ?? host
    }

    static func normalised(authority: String) -> String {
        let text = authority.lowercased()
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            return normalised(host: host, port: rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        if let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) {
            return normalised(host: String(text[..<colon]), port: port)
        }
        return text
    }

    static func cookie(_ request: Request, _ name: String) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name, parts[1].utf8.count <= 16 * 1024 { return String(parts[1]) }
            }
        }
        return nil
    }

    static func setCookie(_ name: String, _ value: String, request: Request, maxAge: Int) -> String {
        // Secure when the browser reached us over https (directly or through a proxy that says so).
        let secure = request.head.scheme == "https" || request.headers[HTTPField.Name("X-Forwarded-Proto")!] == "https"
        return "\(name)=\(value); Path=/ui; Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(secure ? "; Secure" : "")"
    }

    /// An `application/x-www-form-urlencoded` body (at most 64 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let buffer = try await request.collectBody(upTo: 64 << 10)
        return FormEncoding.decode(Substring(String(buffer: buffer)))
    }
}
