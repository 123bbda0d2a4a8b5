import AsyncHTTPClient
import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// `wfl serve` as a process: the API, the periodic update loop, metrics, graceful shutdown.
@Suite struct ServeTests {
    func http(_ method: HTTPMethod, _ url: String, _ body: JSONValue? = nil) async throws -> (status: UInt, json: JSONValue, text: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(string: body.description)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 24))
        return (response.status.code, (try? JSONValue.parse(text)) ?? .null, text)
    }

    @Test func serveRunsTheAPIAndTheLoopAndStopsGracefullyOnSIGTERM() async throws {
        try await TestLauncher.with { launcher in
            let port = Int.random(in: 20_000..<60_000)
            let pidFile = launcher.home.appendingPathComponent("serve.pid").path
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            // The shell records the pid, then becomes wfl (exec), so SIGTERM reaches wfl itself.
            let server = Task {
                try await Command.run(
                    [
                        "/bin/sh", "-c", "echo $$ > \(pidFile); exec \"$0\" \"$@\"", WFLBinary.path,
                        "serve", "--port", String(port), "--interval", "0.3",
                    ],
                    environment: wfl.environment, timeout: .seconds(120))
            }
            let base = "http://127.0.0.1:\(port)"
            var healthy = false
            for _ in 0..<100 where !healthy {
                try await Task.sleep(for: .milliseconds(200))
                healthy = (try? await http(.GET, "\(base)/health"))?.status == 200
            }
            #expect(healthy, "wfl serve did not become healthy")

            let exec = try await http(
                .POST, "\(base)/api/v1/exec",
                TestLauncher.request(
                    source: TestLauncher.items(20), executor: ["name": "Mock", "delaySeconds": 0.5]))
            #expect(exec.status == 200, "\(exec.text)")
            let uuid = try #require(exec.json["uuid"]?.stringValue)
            var finished = false
            for _ in 0..<100 where !finished {
                try await Task.sleep(for: .milliseconds(200))
                finished = try await http(.GET, "\(base)/api/v1/workload/\(uuid)").json["finished"] != nil
            }
            #expect(finished, "the server's update loop did not finish the workload")
            #expect(try await http(.GET, "\(base)/api/v1/workload/\(uuid)").json["workflows"]?["Succeeded"] == 20)

            let metrics = try await http(.GET, "\(base)/metrics").text
            #expect(metrics.contains("wfl_workflows_launched_total 20"), "\(metrics)")
            #expect(metrics.contains("wfl_workflows_finished_total{status=\"Succeeded\"} 20"), "\(metrics)")
            let missing = try await http(.GET, "\(base)/api/v1/nowhere")
            #expect(missing.status == 404 && missing.json["message"] != nil)

            let pid = try #require(
                Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            kill(pid, SIGTERM)
            let result = try await server.value
            #expect(result.status == 0, "wfl serve exited \(result.status): \(result.stderr)")
            #expect(!result.timedOut)
        }
    }
}
