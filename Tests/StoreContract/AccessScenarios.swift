import Foundation
import LauncherCore
import Testing

extension Scenarios {
    /// API tokens: only the hash is stored and found; a live name is unique, a revoked token
    /// frees it and stays listed; roles are enforced by the service for every operation; every
    /// event a request causes names who made it.
    static func tokensAndWhoDidWhat(_ h: Harness) async throws {
        let store = h.store
        let admin = h.parts.service.acting(as: .local("root"))
        let made = try await admin.createToken(["name": "ci", "role": "operator", "expires": "30d"])
        #expect(made.token.hasPrefix("wfl_") && made.token.count > 40)
        #expect(made.record.role == .operator && made.record.createdBy == "root")
        let lifetime = try #require(made.record.expires).timeIntervalSince(made.record.createdAt)
        #expect(abs(lifetime - 30 * 86400) < 120, "expires in \(lifetime) s")
        #expect(try await store.token(hash: APITokens.hash(made.token))?.name == "ci")
        #expect(try await store.token(hash: APITokens.hash(made.token + "x")) == nil)

        await #expect(throws: LauncherError.self) { _ = try await admin.createToken(["name": "ci", "role": "viewer"]) }
        do {
            _ = try await admin.createToken(["name": "ci", "role": "viewer"])
        } catch let error as LauncherError {
            #expect(error.kind == .conflict && error.details["field"] == "name", "\(error)")
        }
        for (body, field) in [
            (["name": "bad name!", "role": "viewer"] as JSONObject, "name"), (["name": "ada@example.org", "role": "viewer"], "name"),
            (["name": "x", "role": "root"], "role"),
            (["name": "x", "role": "viewer", "expires": "forever"], "expires"),
            (["name": "x", "role": "viewer", "expires": "10s"], "expires"),
            (["name": "x", "role": "viewer", "extra": 1], "extra"), (["role": "viewer"], "name"),
        ] {
            do {
                _ = try await admin.createToken(.object(body))
                Issue.record("accepted \(body)")
            } catch let error as LauncherError {
                #expect(error.kind == .badRequest && error.details["field"]?.stringValue == field, "\(body): \(error)")
            }
        }

        // The token stands for its name and role.
        let caller = try await admin.authenticate(apiToken: made.token)
        #expect(caller == Principal(name: "ci", role: .operator, kind: .token))
        let asOperator = h.parts.service.acting(as: caller)
        let viewer = h.parts.service.acting(as: Principal(name: "v", role: .viewer, kind: .token))
        let nobody = h.parts.service.acting(as: Principal(name: "n@example.org", role: nil, kind: .oidc))

        // Who may do what, at the service (the HTTP API only adds the 401 for no credentials).
        func refused(_ what: String, _ needed: Role, _ body: () async throws -> Void) async {
            do {
                try await body()
                Issue.record("\(what) was allowed")
            } catch let error as LauncherError {
                #expect(error.kind == .forbidden && error.details["needed"]?.stringValue == needed.rawValue, "\(what): \(error)")
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        let request = Harness.request(project: "p", items: [["n": 1]], source: nil, executor: [:], labels: [])
        let workload = try await asOperator.create(request, start: true)
        #expect(workload.record.creator == "ci")
        let uuid = workload.record.uuid
        await refused("a viewer creating", .operator) { _ = try await viewer.create(request, start: false) }
        await refused("a viewer starting", .operator) { _ = try await viewer.start(uuid) }
        await refused("a viewer stopping", .operator) { _ = try await viewer.stop(uuid) }
        await refused("a viewer aborting", .operator) { _ = try await viewer.abort(uuid) }
        await refused("a viewer retrying", .operator) { _ = try await viewer.retry(uuid, request: ["status": "Succeeded"]) }
        await refused("a viewer redelivering", .operator) { _ = try await viewer.redeliver(uuid, request: [:]) }
        await refused("an operator making tokens", .admin) { _ = try await asOperator.createToken(["name": "x", "role": "admin"]) }
        await refused("an operator listing tokens", .admin) { _ = try await asOperator.tokens() }
        await refused("an operator revoking", .admin) { _ = try await asOperator.revokeToken(name: "ci") }
        await refused("no role reading", .viewer) { _ = try await nobody.workload(uuid) }
        await refused("no role listing", .viewer) { _ = try await nobody.workloads(project: nil, cursor: nil, limit: nil) }
        for executor in ["Local", "Container"] {
            var hostRequest = request.objectValue!
            hostRequest["executor"] = ["name": .string(executor), "command": "true", "image": "x"]
            await refused("an operator creating a \(executor) workload", .admin) {
                _ = try await asOperator.create(.object(hostRequest), start: false)
            }
        }
        #expect(try await viewer.workload(uuid).record.uuid == uuid, "a viewer reads")
        let events = try await viewer.events(uuid, cursor: nil, limit: nil).items
        #expect(events.prefix(2).map(\.actor) == ["ci", "ci"], "\(events.map(\.json))")

        // Changes name who made them.
        _ = try await asOperator.stop(uuid)
        try await h.runUntilFinished(workload.record)
        _ = try await asOperator.retry(uuid, request: ["status": "Succeeded"])
        let byKind = Dictionary(try await h.events(workload.record).map { ($0.kind, $0.actor) }, uniquingKeysWith: { a, _ in a })
        #expect(
            byKind["created"] == "ci" && byKind["started"] == "ci" && byKind["stopped"] == "ci" && byKind["retried"] == "ci", "\(byKind)")
        _ = try await admin.abort(uuid)
        #expect(try await h.events(workload.record).last { $0.kind == "aborted" }?.actor == "root")
        #expect(try await h.events(workload.record).contains { $0.actor == nil }, "the loop's own events name nobody")

        // Revoking: the token no longer authenticates; its name is free again; both are listed.
        _ = try await admin.revokeToken(name: "ci")
        do {
            _ = try await admin.authenticate(apiToken: made.token)
            Issue.record("a revoked token authenticated")
        } catch let error as LauncherError {
            #expect(error.kind == .unauthenticated && error.message.contains("revoked"), "\(error)")
        }
        await #expect(throws: LauncherError.self) { _ = try await admin.revokeToken(name: "ci") }
        _ = try await admin.createToken(["name": "ci", "role": "viewer"])
        let listed = try await admin.tokens().filter { $0.name == "ci" }
        #expect(listed.count == 2 && listed.filter { $0.revokedAt == nil }.map(\.role) == [.viewer])
        // A token past its expiry (written straight to the store: the service gives at least a minute).
        let old = APITokens.generate()
        _ = try await store.createToken(
            NewAPIToken(name: "old", role: .admin, hash: APITokens.hash(old), createdBy: "root", expires: Date().addingTimeInterval(-1)))
        do {
            _ = try await admin.authenticate(apiToken: old)
            Issue.record("an expired token authenticated")
        } catch let error as LauncherError {
            #expect(error.kind == .unauthenticated && error.message.contains("expired"), "\(error)")
        }
        do {
            _ = try await admin.authenticate(apiToken: "wfl_unknown")
            Issue.record("an unknown token authenticated")
        } catch let error as LauncherError {
            #expect(error.kind == .unauthenticated)
        }
    }
}
