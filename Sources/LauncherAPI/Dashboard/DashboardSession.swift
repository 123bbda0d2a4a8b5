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

    func token(for seed: String) -> String {
        Base64URL.encode(Data(HMAC<SHA256>.authenticationCode(for: Data(seed.utf8), using: key)))
    }

    /// A form post is ours: its token matches the browser's seed, and its origin (when the
    /// browser says) is this server.
    func check(_ request: Request, form: [String: String]) throws {
        if let origin = request.headers[.origin], let host = request.head.authority,
            URL(string: origin).map({ "\($0.host ?? "")\($0.port.map { ":\($0)" } ?? "")" }) != host
        {
            throw LauncherError(.forbidden, "the form was sent from another site (\(Constraint.excerpt(origin, max: 80)))")
        }
        guard let seed = Self.cookie(request, Self.csrfCookie), let sent = form["csrf"],
            Data(sent.utf8) == Data(token(for: seed).utf8)
        else {
            throw LauncherError(.forbidden, "the form is stale or was not made by this server; reload the page and try again")
        }
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
        var values: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decode(parts[0])
            if values[name] == nil { values[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return values
    }
}
