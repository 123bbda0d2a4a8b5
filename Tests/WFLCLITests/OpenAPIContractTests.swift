import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import NIOHTTP1
import Testing

/// The OpenAPI document against the real server: valid OpenAPI 3.1 (openapi-spec-validator),
/// and schemathesis (both from PyPI) generating thousands of requests from it against
/// `wfl serve --auth`, with an operator token for every operation and an admin token for the
/// token operations: no 5xx, every status, content type and response body as documented.
/// The Terra stages talk to the fake services, so their create-time checks answer.
@Suite(.serialized) struct OpenAPIContractTests {
    @Test(.timeLimit(.minutes(10)))
    func theDocumentIsValidAndTheServerKeepsIt() async throws {
        try await FakeTerra.with { fake in
            try await TestLauncher.with { launcher in
                let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
                _ = try await wfl.run(["migrate"])
                let operatorToken = try #require(
                    try await wfl.json(["token", "create", "--name", "st-op", "--role", "operator"])["token"]?.stringValue)
                let adminToken = try #require(
                    try await wfl.json(["token", "create", "--name", "st-admin", "--role", "admin"])["token"]?.stringValue)
                let root = try TestFiles.temporaryFolder("contract-root")
                var extra = fake.settings
                extra["WFL_ALLOWED_ROOTS"] = root.path
                extra["WFL_OUTBOUND_ALLOW"] = "127.0.0.1"
                let serve = ServeProcess(wfl: wfl, home: launcher.home, interval: 1, extra: extra, arguments: ["--auth"])
                guard await serve.waitHealthy() else {
                    let result = try await serve.stop()
                    Issue.record("wfl serve --auth did not become healthy: \(ServeProcess.diagnosis(result.stderr))")
                    return
                }
                let document = try await serve.http(.GET, "/openapi.json")
                #expect(document.status == 200 && document.json["openapi"] == "3.1.0")
                let file = root.appendingPathComponent("openapi.json")
                try Data(document.text.utf8).write(to: file)
                let validated = try await Command.run(
                    [
                        "python3", "-c",
                        "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')",
                        file.path,
                    ],
                    timeout: .seconds(120))
                #expect(validated.status == 0 && validated.stdout.contains("valid"), "\(validated.stderr.suffix(3000))")

                // Every path of the document is served, and on the docs page.
                let docs = try await serve.http(.GET, "/docs")
                #expect(docs.status == 200 && docs.headers["Content-Type"].first?.hasPrefix("text/html") == true)
                for path in document.json["paths"]?.objectValue?.keys ?? [:].keys {
                    #expect(docs.text.contains("<code>\(path)</code>"), "/docs lacks \(path)")
                }

                let checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
                func schemathesis(_ token: String, examples: Int, _ more: [String]) async throws -> (Command.Result, Int) {
                    let result = try await Command.run(
                        [
                            "python3", "-m", "schemathesis.cli", "run", "\(serve.base)/openapi.json", "-H",
                            "Authorization: Bearer \(token)", "-c", checks,
                            "-n", String(examples), "--seed", "7", "--request-timeout", "10", "--phases", "examples,fuzzing,stateful",
                            "--generation-deterministic", "--no-color",
                        ] + more, workingDirectory: root.path, timeout: .seconds(400))
                    let generated =
                        result.stdout.split(separator: "\n").compactMap { line -> Int? in
                            guard line.contains(" generated") else { return nil }
                            return Int(line.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
                        }.last ?? 0
                    return (result, generated)
                }
                let examples = Int(ProcessInfo.processInfo.environment["WFL_SCHEMATHESIS_EXAMPLES"] ?? "") ?? 120
                let (all, allCases) = try await schemathesis(operatorToken, examples: examples, [])
                #expect(all.status == 0, "schemathesis found failures:\n\(all.stdout.suffix(8000))\n\(all.stderr.suffix(2000))")
                let (tokens, tokenCases) = try await schemathesis(adminToken, examples: 50, ["--include-path-regex", "^/api/v1/tokens"])
                #expect(tokens.status == 0, "schemathesis found failures:\n\(tokens.stdout.suffix(8000))\n\(tokens.stderr.suffix(2000))")
                print("schemathesis: \(allCases) cases as an operator, \(tokenCases) on the token operations as an admin")
                #expect(allCases + tokenCases >= 2000, "only \(allCases + tokenCases) cases generated")
                #expect(try await serve.http(.GET, "/status").status == 200, "the server is still up")
                let stopped = try await serve.stop()
                #expect(stopped.status == 0, "\(stopped.stderr.suffix(2000))")
            }
        }
    }
}
