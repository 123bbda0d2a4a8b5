import AsyncHTTPClient
import Crypto
import CryptoExtras
import Foundation
import LauncherCore
import LauncherStageSupport
import NIOCore
import NIOHTTP1

/// Access tokens for Google APIs (Firecloud, Rawls, the data repository, BigQuery).
///
/// From a service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`): a JWT signed with the
/// key (RS256) is exchanged at the token endpoint, and the token is cached until five minutes
/// before it expires, shared by every stage in the process (WFL fetched one per call). For
/// development, `WFL_GOOGLE_TOKEN` gives a static token instead.
actor GoogleAuth {
    static let shared = GoogleAuth()
    static let scopes =
        "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"

    private struct Cached {
        let token: String
        let expires: Date
    }
    private var cache: [String: Cached] = [:]
    private var inFlight: [String: Task<Cached, any Error>] = [:]

    struct Failure: Error, CustomStringConvertible { let description: String }

    func token(settings: Settings) async throws -> String {
        if let token = settings[.googleToken] { return token }
        guard let path = settings[.googleCredentials] else {
            throw Failure(
                description:
                    "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (or WFL_GOOGLE_TOKEN for development)"
            )
        }
        let tokenURLOverride = settings[.googleTokenURL]
        let key = "\(path)|\(tokenURLOverride ?? "")"
        if let cached = cache[key], cached.expires > Date().addingTimeInterval(300) { return cached.token }
        // Concurrent callers wait for one request instead of each asking for a token.
        if let running = inFlight[key] { return try await running.value.token }
        let task = Task { try await Self.fetch(keyFile: path, tokenURL: tokenURLOverride) }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        let fresh = try await task.value
        cache[key] = fresh
        return fresh.token
    }

    private static func fetch(keyFile: String, tokenURL override: String?) async throws -> Cached {
        guard let data = FileManager.default.contents(atPath: keyFile),
            let key = try? JSONValueDecoder.decode(ServiceAccountKey.self, from: data)
        else {
            throw Failure(description: "\(keyFile) is not a service-account key file (client_email and private_key are required)")
        }
        let (email, pem) = (key.clientEmail, key.privateKey)
        let tokenURL = override ?? key.tokenURI ?? "https://oauth2.googleapis.com/token"
        let now = Int(Date().timeIntervalSince1970)
        let header = Base64URL.encode(JSONValue.object(["alg": "RS256", "typ": "JWT"]).description)
        let claims = Base64URL.encode(
            JSONValue.object([
                "iss": .string(email), "scope": .string(scopes), "aud": .string(tokenURL), "iat": .int(Int64(now)),
                "exp": .int(Int64(now + 3600)),
            ]).description)
        let signingInput = "\(header).\(claims)"
        let signature: Data
        do {
            let privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
            signature = try privateKey.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5).rawRepresentation
        } catch {
            throw Failure(description: "cannot sign with the key in \(keyFile): \(error)")
        }
        let assertion = "\(signingInput).\(Base64URL.encode(signature))"
        var request = HTTPClientRequest(url: tokenURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=\(assertion)"))
        let response: HTTPClientResponse
        let text: String
        do {
            response = try await BackendHTTP.client.execute(request, timeout: .seconds(30))
            text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            throw Failure(description: "the token endpoint \(tokenURL) did not answer: \(error)")
        }
        guard response.status.code == 200, let body = try? JSONValueDecoder.decode(TokenReply.self, from: Data(text.utf8)) else {
            throw Failure(description: "the token endpoint \(tokenURL) refused the service account \(email) (HTTP \(response.status.code))")
        }
        let token = body.accessToken
        let lifetime = min(max(body.expiresIn ?? 3600, 0), 86_400)
        return Cached(token: token, expires: Date().addingTimeInterval(lifetime))
    }

}

/// A Google service-account key file (the members the launcher needs).
struct ServiceAccountKey: Decodable {
    var clientEmail: String
    var privateKey: String
    var tokenURI: String?
    enum CodingKeys: String, CodingKey { case clientEmail = "client_email", privateKey = "private_key", tokenURI = "token_uri" }
}

/// The token endpoint's answer.
struct TokenReply: Decodable {
    var accessToken: String
    var expiresIn: Double?
    enum CodingKeys: String, CodingKey { case accessToken = "access_token", expiresIn = "expires_in" }
}
