import Foundation
import LauncherCore
import LauncherPostgres
import LauncherSystem
import LauncherTestSupport
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `wfl serve --auth` and `wfl token` as an operator uses them.
@Suite struct AuthServeTests {
    @Test func serveRefusesANonLoopbackAddressWithoutAuthentication() async throws {
        let home = try TestFiles.temporaryFolder("noauth")
        let wfl = WFLBinary(databaseURL: "postgres://127.0.0.1:1/none", home: home)
        for host in ["0.0.0.0", "10.1.2.3", "::"] {
            let result = try await wfl.run(["serve", "--host", host, "--port", "0"], timeout: .seconds(30))
            #expect(result.status == 2, "\(host): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("refusing to listen on \(host) without authentication"), "\(result.stderr)")
            #expect(result.stderr.contains("--auth"))
        }
        // WFL_AUTH=1 counts as --auth (the database is unreachable, so it stops later, for that).
        let withAuth = try await wfl.run(["serve", "--host", "0.0.0.0", "--port", "0"], extra: ["WFL_AUTH": "1"], timeout: .seconds(60))
        #expect(!withAuth.stderr.contains("refusing to listen"), "\(withAuth.stderr)")
    }

    @Test func tokensMadeByTheCLIOpenTheAPIUntilRevoked() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            _ = try await wfl.run(["migrate"])
            let made = try await wfl.json(["token", "create", "--name", "ops", "--role", "operator", "--expires", "7d"])
            let token = try #require(made["token"]?.stringValue)
            #expect(made["role"] == "operator" && made["expires"] != nil && made["createdBy"] == "cli-test", "\(made)")
            let plain = try await wfl.run(["token", "create", "--name", "watcher", "--role", "viewer"])
            #expect(plain.status == 0 && plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("wfl_"), "\(plain.stdout)")
            #expect(plain.stderr.contains("shown only now"))
            let bad = try await wfl.run(["token", "create", "--name", "x", "--role", "god"])
            #expect(bad.status == 2 && bad.stderr.contains("unknown role"), "\(bad.stderr)")

            let serve = ServeProcess(wfl: wfl, home: launcher.home, arguments: ["--auth"])
            guard await serve.waitHealthy() else {
                let result = try await serve.stop()
                Issue.record("wfl serve --auth did not become healthy: \(ServeProcess.diagnosis(result.stderr))")
                return
            }
            let anonymous = try await serve.http(.GET, "/api/v1/workload")
            #expect(anonymous.status == 401 && anonymous.headers["WWW-Authenticate"].first == "Bearer realm=\"wfl\"", "\(anonymous.text)")
            let allowed = try await serve.http(.GET, "/api/v1/workload", headers: [("Authorization", "Bearer \(token)")])
            #expect(allowed.status == 200, "\(allowed.text)")
            let created = try await serve.http(
                .POST, "/api/v1/create", TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock"]),
                headers: [("Authorization", "Bearer \(token)")])
            #expect(created.status == 200 && created.json["creator"] == "ops", "\(created.text)")

            let revoked = try await wfl.run(["token", "revoke", "ops"])
            #expect(revoked.status == 0 && revoked.stdout.contains("Revoked token ops"), "\(revoked.stderr)")
            let after = try await serve.http(.GET, "/api/v1/workload", headers: [("Authorization", "Bearer \(token)")])
            #expect(after.status == 401 && after.text.contains("revoked"), "\(after.text)")
            let listed = try await wfl.json(["token", "list"])
            #expect(listed.arrayValue?.first { $0["name"] == "ops" }?["revoked"] != nil, "\(listed)")
            #expect(!listed.description.contains(token))
            let again = try await wfl.run(["token", "revoke", "ops"])
            #expect(again.status == 2 && again.stderr.contains("No live token named ops"), "\(again.stderr)")
            let result = try await serve.stop()
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        }
    }
}

/// Without authentication on loopback, a request addressed to another name is refused: a web
/// page can point its own name at 127.0.0.1 (DNS rebinding) and have a browser send it requests
/// that then look same-origin to the browser; their Host header gives them away.
@Suite struct RebindingTests {
    @Test func aRequestAddressedToAnotherNameIsRefusedWithoutAuthentication() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let serve = ServeProcess(wfl: wfl, home: launcher.home)
            guard await serve.requireHealthy() else { return }
            for host in ["evil.example:\(serve.port)", "127.0.0.1.evil.example", "localhost.evil.example:80"] {
                let refused = try await serve.http(
                    .POST, "/api/v1/exec",
                    TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Local", "command": "true"]),
                    headers: [("Host", host)])
                #expect(
                    refused.status == 403 && refused.text.contains("addressed to this machine"),
                    "\(host): \(refused.status) \(refused.text)")
                let page = try await serve.http(.GET, "/ui/", headers: [("Host", host)])
                #expect(page.status == 403, "\(host): \(page.status)")
            }
            for host in ["127.0.0.1:\(serve.port)", "localhost:\(serve.port)", "[::1]:\(serve.port)"] {
                let allowed = try await serve.http(.GET, "/api/v1/workload", headers: [("Host", host)])
                #expect(allowed.status == 200, "\(host): \(allowed.status) \(allowed.text)")
            }
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workload") == 0, "nothing was created")
            #expect(try await serve.stop().status == 0)
        }
    }
}

/// A serve whose HTTP server cannot start stops, saying why. It used to keep its update loop
/// spinning (every pass and sleep failing at once, cancelled) with nobody listening.
@Suite struct ServeStartFailureTests {
    @Test func aPortInUseStopsServeWithTheReason() async throws {
        try await TestLauncher.with { launcher in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let listening = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(fd, pointer, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            try #require(listening)
            let port = Int(UInt16(bigEndian: address.sin_port))
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let result = try await wfl.run(["serve", "--port", String(port), "--interval", "0.3"], timeout: .seconds(60))
            #expect(!result.timedOut, "serve kept running without its HTTP server")
            #expect(result.status != 0, "\(result.stderr.suffix(2000))")
            #expect(result.stderr.lowercased().contains("address already in use"), "\(result.stderr.suffix(2000))")
        }
    }
}
