import Crypto
import CryptoExtras
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import LauncherCore
import LauncherTestSupport
import Logging
import Testing

@testable import LauncherAPI

/// An OIDC provider made in the test: an RSA and an EC key, a JWKS file with their public
/// halves, and JWTs signed by either.
struct TestIdentityProvider: Sendable {
    static let issuer = "https://accounts.example.org"
    static let audience = "wfl-test"

    let keys = JWTKeyCollection()
    let jwksPath: String

    static func make() async throws -> TestIdentityProvider {
        let rsa = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let ec = ES256PrivateKey()
        let (modulus, exponent) = try rsa.publicKey.getKeyPrimitives()
        let (x, y) = try #require(ec.publicKey.parameters)
        let jwks: JSONValue = [
            "keys": [
                [
                    "kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig", "n": .string(base64URL(modulus)),
                    "e": .string(base64URL(exponent)),
                ],
                ["kty": "EC", "kid": "ec1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": .string(x), "y": .string(y)],
            ]
        ]
        let path = try TestFiles.temporaryFolder("jwks").appendingPathComponent("jwks.json").path
        try jwks.description.write(toFile: path, atomically: true, encoding: .utf8)
        let provider = TestIdentityProvider(jwksPath: path)
        await provider.keys.add(rsa: rsa, digestAlgorithm: .sha256, kid: "rsa1")
        await provider.keys.add(ecdsa: ec, kid: "ec1")
        return provider
    }

    static func base64URL(_ data: Data) -> String { Base64URL.encode(data) }

    static func claims(
        email: String? = "ada@example.org", issuer: String = issuer, audience: JSONValue = .string(audience), expiresIn: Double = 600,
        groups: [String] = [], verified: JSONValue = true
    ) -> JSONObject {
        var claims: JSONObject = [
            "iss": .string(issuer), "aud": audience, "exp": .double(Date().timeIntervalSince1970 + expiresIn),
            "iat": .double(Date().timeIntervalSince1970), "sub": "1234", "groups": .array(groups.map(JSONValue.string)),
            "email_verified": verified,
        ]
        if let email { claims["email"] = .string(email) }
        return claims
    }

    func token(_ claims: JSONObject, kid: String = "rsa1") async throws -> String {
        try await keys.sign(OIDCVerifier.Claims(values: claims), kid: JWKIdentifier(string: kid))
    }

    func verifier(roles: String = "admin=ada@example.org;operator=@example.org,group:ops;viewer=@viewers.example.org") throws
        -> OIDCVerifier
    {
        OIDCVerifier(
            source: .file(jwksPath), issuer: Self.issuer, audience: Self.audience, roles: try RoleMapping(parsing: roles),
            logger: Logger(label: "test"))
    }
}

/// Runs `body` with a client on the API with authentication on (API tokens and OIDC).
func withAuthAPI(
    metricsPublic: Bool = false,
    _ body: @escaping @Sendable (any TestClientProtocol, TestLauncher, TestIdentityProvider) async throws -> Void
) async throws {
    let provider = try await TestIdentityProvider.make()
    try await TestLauncher.with { launcher in
        let oidc = try provider.verifier()
        let app = Application(
            router: APIRoutes(
                service: launcher.service, trustedProxies: ["127.0.0.1", "::1"],
                auth: AuthConfiguration(enabled: true, metricsPublic: metricsPublic, oidc: oidc), metrics: { "wfl_test_metric 1\n" }
            ).router())
        try await app.test(.live) { client in try await body(client, launcher, provider) }
    }
}

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

@Suite struct AuthTests {
    /// Every route against every kind of caller: no credentials (401 with a Bearer challenge,
    /// but for the open routes), each role (403 naming the role needed below the route's own,
    /// anything but 401/403 at or above it).
    @Test func everyRoleAgainstEveryRoute() async throws {
        try await withAuthAPI { client, launcher, _ in
            var tokens: [Role: String] = [:]
            for role in Role.allCases {
                tokens[role] = try await launcher.service.createToken([
                    "name": .string("t-\(role.rawValue)"), "role": .string(role.rawValue),
                ])
                .token
            }
            let workload = try await launcher.service.create(request(2), start: true)
            let uuid = workload.record.uuid.uuidString.lowercased()
            var spare = 0
            func body(_ method: HTTPRequest.Method, _ path: String) -> JSONValue? {
                switch (method, path) {
                case (.post, "/api/v1/create"), (.post, "/api/v1/exec"): request(1)
                case (.post, "/api/v1/start"), (.post, "/api/v1/stop"): ["uuid": .string(uuid)]
                case (.post, "/api/v1/workload/:uuid/retry"): ["status": "Succeeded"]
                case (.post, "/api/v1/tokens"): ["name": .string("spare-\(UUID().uuidString.prefix(8))"), "role": "viewer"]
                case (.post, _): [:]
                default: nil
                }
            }
            #expect(APIRoutes.table.routes.count >= 20)
            for route in APIRoutes.table.routes {
                var callers: [(String, HTTPFields, Role?)] = [("nobody", [:], nil)]
                for role in Role.allCases { callers.append((role.rawValue, bearer(tokens[role]!), role)) }
                for (who, headers, role) in callers {
                    var path = route.path.replacingOccurrences(of: ":uuid", with: uuid)
                    if path.hasSuffix(":name") {
                        spare += 1
                        let name = "revocable-\(spare)"
                        _ = try await launcher.service.createToken(["name": .string(name), "role": "viewer"])
                        path = path.replacingOccurrences(of: ":name", with: name)
                    }
                    let reply = try await client.call(route.method, path, body(route.method, route.path), headers: headers)
                    let label = "\(route.method) \(route.path) as \(who): \(reply.status.code) \(reply.json)"
                    switch (route.access, role) {
                    case (.open, _) where route.method == .post && route.path.hasPrefix("/ui/"):
                        // Dashboard forms: refused without the CSRF token their page carries, whoever
                        // posts; a caller the dashboard does not know is first sent to log in.
                        #expect(
                            (reply.status == .forbidden && reply.text.contains("form")) || (role == nil && reply.status == .seeOther),
                            "\(label)")
                    case (.open, _):
                        #expect(reply.status != .unauthorized && reply.status != .forbidden, "\(label)")
                    case (_, nil):
                        #expect(reply.status == .unauthorized, "\(label)")
                        #expect(reply.headers[.wwwAuthenticate] == "Bearer realm=\"wfl\"", "\(label)")
                        #expect(reply.json["message"]?.stringValue?.contains("authentication required") == true, "\(label)")
                    case (.role(let needed), let role?) where role < needed:
                        #expect(reply.status == .forbidden, "\(label)")
                        #expect(reply.json["details"]?["needed"]?.stringValue == needed.rawValue, "\(label)")
                        #expect(reply.json["message"]?.stringValue?.contains("\(needed.rawValue) role required") == true, "\(label)")
                    default:
                        #expect(reply.status != .unauthorized && reply.status != .forbidden, "\(label)")
                        #expect(reply.status.code < 500, "\(label)")
                    }
                }
            }
            // An unknown route tells nobody without credentials that it does not exist.
            #expect(try await client.call(.get, "/api/v1/nothing").status == .unauthorized)
            #expect(try await client.call(.get, "/api/v1/nothing", headers: bearer(tokens[.viewer]!)).status == .notFound)
        }
    }

    @Test func hostExecutorsAreForAdminsAndEveryChangeNamesItsMaker() async throws {
        try await withAuthAPI { client, launcher, _ in
            let op = try await launcher.service.createToken(["name": "op", "role": "operator"]).token
            let admin = try await launcher.service.createToken(["name": "boss", "role": "admin"]).token
            for executor in [["name": "Local", "command": "echo hi"], ["name": "Container", "image": "alpine", "command": "true"]]
                as [JSONValue]
            {
                let refused = try await client.call(.post, "/api/v1/create", request(1, executor: executor), headers: bearer(op))
                #expect(refused.status == .forbidden, "\(refused.json)")
                #expect(refused.json["details"]?["needed"] == "admin", "\(refused.json)")
                #expect(try await launcher.service.workloads(project: nil, cursor: nil, limit: nil).items.isEmpty, "nothing written")
            }
            let local = try await client.call(
                .post, "/api/v1/create", request(1, executor: ["name": "Local", "command": "echo hi"]), headers: bearer(admin))
            #expect(local.status == .ok, "\(local.json)")
            #expect(local.json["creator"] == "boss")

            // A header naming someone else is ignored: the identity is the token's.
            var headers = bearer(op)
            headers[HTTPField.Name("X-Forwarded-Email")!] = "mallory@example.org"
            let created = try await client.call(.post, "/api/v1/exec", request(1), headers: headers)
            #expect(created.status == .ok && created.json["creator"] == "op", "\(created.json)")
            let uuid = try #require(created.json["uuid"]?.stringValue)
            #expect(try await client.call(.post, "/api/v1/stop", ["uuid": .string(uuid)], headers: bearer(op)).status == .ok)
            let events = try await client.call(.get, "/api/v1/workload/\(uuid)/events", headers: bearer(op))
            let by = Dictionary(
                (events.json.arrayValue ?? []).map { ($0["kind"]?.stringValue ?? "", $0["by"]) }, uniquingKeysWith: { a, _ in a })
            #expect(by["created"] == "op" && by["started"] == "op" && by["stopped"] == "op", "\(events.json)")
        }
    }

    @Test func tokensOverHTTPAndRevocationTakesEffectAtOnce() async throws {
        try await withAuthAPI { client, launcher, _ in
            let admin = try await launcher.service.createToken(["name": "boss", "role": "admin"]).token
            let made = try await client.call(
                .post, "/api/v1/tokens", ["name": "robot", "role": "operator", "expires": "1d"], headers: bearer(admin))
            #expect(made.status == .ok && made.json["role"] == "operator" && made.json["createdBy"] == "boss", "\(made.json)")
            let robot = try #require(made.json["token"]?.stringValue)
            let listed = try await client.call(.get, "/api/v1/tokens", headers: bearer(admin))
            #expect(listed.json.arrayValue?.map { $0["name"] } == ["boss", "robot"])
            #expect(!listed.json.description.contains(robot), "a listing never shows a token")
            #expect(try await client.call(.get, "/api/v1/workload", headers: bearer(robot)).status == .ok)

            let twice = try await client.call(.post, "/api/v1/tokens", ["name": "robot", "role": "viewer"], headers: bearer(admin))
            #expect(twice.status == .conflict && twice.json["details"]?["field"] == "name")
            let bad = try await client.call(.post, "/api/v1/tokens", ["name": "x", "role": "emperor"], headers: bearer(admin))
            #expect(bad.status == .badRequest && bad.json["details"]?["field"] == "role")

            let revoked = try await client.call(.delete, "/api/v1/tokens/robot", headers: bearer(admin))
            #expect(revoked.status == .ok && revoked.json["revoked"] != nil, "\(revoked.json)")
            let after = try await client.call(.get, "/api/v1/workload", headers: bearer(robot))
            #expect(after.status == .unauthorized && after.json["message"]?.stringValue?.contains("revoked") == true, "\(after.json)")
            #expect(after.headers[.wwwAuthenticate] == "Bearer realm=\"wfl\", error=\"invalid_token\"")
            #expect(try await client.call(.delete, "/api/v1/tokens/robot", headers: bearer(admin)).status == .notFound)
            for token in ["wfl_nonsense", "wfl_" + String(repeating: "a", count: 5000), "not-a-jwt", "a.b.c"] {
                let reply = try await client.call(.get, "/api/v1/workload", headers: bearer(token))
                #expect(reply.status == .unauthorized, "\(token.prefix(20)): \(reply.json)")
            }
            let basic = try await client.call(.get, "/api/v1/workload", headers: [.authorization: "Basic YWRhOnB3"])
            #expect(basic.status == .unauthorized && basic.json["message"]?.stringValue?.contains("Bearer") == true)
        }
    }

    /// OIDC JWTs: RS256 and ES256 verify and map onto roles by e-mail, domain or group; every
    /// kind of bad token is a 401 saying what is wrong with it.
    @Test func jwtsAreVerifiedAndMappedOntoRoles() async throws {
        try await withAuthAPI { client, launcher, provider in
            let ada = try await provider.token(TestIdentityProvider.claims())
            let created = try await client.call(.post, "/api/v1/create", request(1), headers: bearer(ada))
            #expect(created.status == .ok && created.json["creator"] == "ada@example.org", "\(created.json)")
            #expect(try await client.call(.get, "/api/v1/tokens", headers: bearer(ada)).status == .ok, "ada is an admin")

            let bob = try await provider.token(TestIdentityProvider.claims(email: "bob@example.org"), kid: "ec1")
            #expect(
                try await client.call(.post, "/api/v1/create", request(1), headers: bearer(bob)).status == .ok, "a domain operator, ES256")
            #expect(try await client.call(.get, "/api/v1/tokens", headers: bearer(bob)).status == .forbidden)

            let carol = try await provider.token(TestIdentityProvider.claims(email: "carol@elsewhere.org", groups: ["ops"]))
            #expect(try await client.call(.post, "/api/v1/create", request(1), headers: bearer(carol)).status == .ok, "a group operator")

            let dave = try await provider.token(TestIdentityProvider.claims(email: "dave@viewers.example.org"))
            #expect(try await client.call(.get, "/api/v1/workload", headers: bearer(dave)).status == .ok)
            #expect(try await client.call(.post, "/api/v1/create", request(1), headers: bearer(dave)).status == .forbidden)

            let eve = try await provider.token(TestIdentityProvider.claims(email: "eve@nowhere.org"))
            let noRole = try await client.call(.get, "/api/v1/workload", headers: bearer(eve))
            #expect(noRole.status == .forbidden && noRole.json["message"]?.stringValue?.contains("has no role") == true, "\(noRole.json)")

            // Forged and broken tokens.
            let other = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
            let forger = JWTKeyCollection()
            await forger.add(rsa: other, digestAlgorithm: .sha256, kid: "rsa1")
            await forger.add(hmac: HMACKey(from: String(repeating: "s", count: 64)), digestAlgorithm: .sha256, kid: "hs")
            let payload = OIDCVerifier.Claims(values: TestIdentityProvider.claims())
            let claimsPart = TestIdentityProvider.base64URL(Data(JSONValue.object(TestIdentityProvider.claims()).description.utf8))
            let noneHeader = TestIdentityProvider.base64URL(Data(#"{"alg":"none","kid":"rsa1","typ":"JWT"}"#.utf8))
            let cases: [(String, String, String)] = [
                ("expired", try await provider.token(TestIdentityProvider.claims(expiresIn: -60)), "expired"),
                ("wrong issuer", try await provider.token(TestIdentityProvider.claims(issuer: "https://evil.example.org")), "issuer"),
                ("wrong audience", try await provider.token(TestIdentityProvider.claims(audience: "someone-else")), "audience"),
                ("no e-mail", try await provider.token(TestIdentityProvider.claims(email: nil)), "e-mail"),
                ("unverified e-mail", try await provider.token(TestIdentityProvider.claims(verified: false)), "not verified"),
                ("no email_verified", try await provider.token(TestIdentityProvider.claims(verified: .null)), "not verified"),
                ("bad signature", try await forger.sign(payload, kid: JWKIdentifier(string: "rsa1")), "signature"),
                ("HS256", try await forger.sign(payload, kid: JWKIdentifier(string: "hs")), "algorithm"),
                ("alg none", "\(noneHeader).\(claimsPart).", "algorithm"),
                ("tampered claims", try await tamper(provider.token(TestIdentityProvider.claims(email: "eve@nowhere.org"))), "signature"),
            ]
            for (what, token, says) in cases {
                let reply = try await client.call(.get, "/api/v1/workload", headers: bearer(token))
                #expect(reply.status == .unauthorized, "\(what): \(reply.status) \(reply.json)")
                #expect(reply.json["message"]?.stringValue?.contains(says) == true, "\(what): \(reply.json)")
            }
            _ = launcher
        }
    }

    /// A provider's key set mixes keys: encryption keys, other algorithms, key types jwt-kit
    /// does not read, broken entries. The usable ones still verify; a set with none stops
    /// the server with the reason (it used to refuse the whole set for any one of them).
    @Test func keysThisServerCannotUseAreSkippedOneByOne() async throws {
        let provider = try await TestIdentityProvider.make()
        let original = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: provider.jwksPath)))
        let good = try #require(original["keys"]?.arrayValue)
        let unusable: [JSONValue] = [
            ["kty": "RSA", "kid": "enc1", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"],
            ["kty": "oct", "kid": "hmac1", "alg": "HS256", "k": "c2VjcmV0"],
            ["kty": "OKP", "kid": "ed1", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"],
            ["kty": "RSA", "alg": "RS256", "n": "AQAB", "e": "AQAB"],
            ["kty": "RSA", "kid": "broken", "alg": "RS256", "n": 42, "e": ["x"]],
            ["kty": "future-type", "kid": "f1"],
        ]
        let folder = try TestFiles.temporaryFolder("jwks-mixed")
        let mixed = folder.appendingPathComponent("mixed.json").path
        try JSONValue.object(["keys": .array(unusable.prefix(3) + good + unusable.suffix(3))]).description.write(
            toFile: mixed, atomically: true, encoding: .utf8)
        let verifier = OIDCVerifier(
            source: .file(mixed), issuer: TestIdentityProvider.issuer, audience: TestIdentityProvider.audience,
            roles: try RoleMapping(parsing: "admin=ada@example.org"), logger: Logger(label: "test"))
        try await verifier.load()
        for kid in ["rsa1", "ec1"] {
            let principal = try await verifier.verify(try await provider.token(TestIdentityProvider.claims(), kid: kid))
            #expect(principal.name == "ada@example.org" && principal.role == .admin, "\(kid)")
        }
        let (_, ids, skipped) = try await OIDCVerifier.usableKeys(try String(contentsOfFile: mixed, encoding: .utf8))
        #expect(ids == ["rsa1", "ec1"] && skipped.count == unusable.count, "\(ids) \(skipped)")
        #expect(skipped.contains { $0.0 == "enc1" && $0.1.contains("use enc") }, "\(skipped)")
        #expect(skipped.contains { $0.0 == "hmac1" && $0.1.contains("HS256") }, "\(skipped)")

        let none = folder.appendingPathComponent("none.json").path
        try JSONValue.object(["keys": .array(unusable)]).description.write(toFile: none, atomically: true, encoding: .utf8)
        let refusing = OIDCVerifier(
            source: .file(none), issuer: TestIdentityProvider.issuer, audience: TestIdentityProvider.audience,
            roles: try RoleMapping(parsing: ""), logger: Logger(label: "test"))
        let error = await #expect(throws: LauncherError.self) { try await refusing.load() }
        #expect(error?.message.contains("no usable RS256 or ES256 signing key") == true, "\(String(describing: error))")
        let notASet = folder.appendingPathComponent("list.json").path
        try "[1, 2]".write(toFile: notASet, atomically: true, encoding: .utf8)
        let wrong = OIDCVerifier(
            source: .file(notASet), issuer: TestIdentityProvider.issuer, audience: TestIdentityProvider.audience,
            roles: try RoleMapping(parsing: ""), logger: Logger(label: "test"))
        let notJWKS = await #expect(throws: LauncherError.self) { try await wrong.load() }
        #expect(notJWKS?.message.contains("not a JWKS") == true, "\(String(describing: notJWKS))")
    }

    /// Swaps the payload of a signed token for one naming an admin, keeping the signature.
    func tamper(_ token: String) -> String {
        let parts = token.split(separator: ".")
        let forged = TestIdentityProvider.base64URL(Data(JSONValue.object(TestIdentityProvider.claims()).description.utf8))
        return "\(parts[0]).\(forged).\(parts[2])"
    }

    /// The route's role is checked before its body is read (by the access middleware, whose
    /// message names the route, not the service's, which names the operation), and a
    /// lower-case "bearer" is a bearer.
    @Test func aCallerWithoutTheRoutesRoleIsRefusedBeforeItsBodyIsRead() async throws {
        try await withAuthAPI { client, launcher, _ in
            let viewer = try await launcher.service.createToken(["name": "v", "role": "viewer"]).token
            let large = "{\"project\": \"" + String(repeating: "x", count: 4 << 20) + "\"}"
            let refused = try await client.call(.post, "/api/v1/create", raw: large, headers: [.authorization: "bearer \(viewer)"])
            #expect(refused.status == .forbidden && refused.json["details"]?["needed"] == "operator", "\(refused.status)")
            #expect(refused.json["message"]?.stringValue?.contains("to POST /api/v1/create") == true, "\(refused.json)")
        }
    }

    @Test func metricsNeedAViewerUnlessPublic() async throws {
        try await withAuthAPI { client, _, _ in
            let metrics = try await client.call(.get, "/metrics")
            #expect(metrics.status == .unauthorized)
            for open in ["/", "/status", "/health", "/version"] {
                let reply = try await client.call(.get, open)
                // /health may say 503 on a loaded machine (a slow database ping): open is what counts.
                #expect(reply.status != .unauthorized && reply.status != .forbidden, "\(open): \(reply.status)")
            }
        }
        try await withAuthAPI(metricsPublic: true) { client, _, _ in
            let metrics = try await client.call(.get, "/metrics")
            #expect(metrics.status == .ok)
        }
    }

    @Test func roleMappingsAreParsedAndBadOnesNamed() throws {
        let mapping = try RoleMapping(parsing: "admin=Ada@Example.org; operator=@example.org,group:ops ;viewer=*")
        #expect(mapping.role(email: "ada@example.org", groups: []) == .admin)
        #expect(mapping.role(email: "bob@example.org", groups: []) == .operator)
        #expect(mapping.role(email: "bob@sub.example.org.evil", groups: []) == .viewer)
        #expect(mapping.role(email: "x@y.z", groups: ["ops"]) == .operator)
        #expect(try RoleMapping(parsing: "operator=@example.org").role(email: "x@notexample.org", groups: []) == nil)
        for bad in ["admin", "king=a@b.c", "admin=nobody", "viewer=@"] {
            #expect(throws: LauncherError.self, "\(bad)") { _ = try RoleMapping(parsing: bad) }
        }
    }
}
