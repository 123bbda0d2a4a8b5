import AsyncHTTPClient
import Foundation
import LauncherCore
import LauncherSystem
import NIOCore

/// The WES server scripts/wes-up.sh starts (wes-service + cwltool, on 127.0.0.1).
public enum WESServer {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    public static var url: String { ProcessInfo.processInfo.environment["WFL_TEST_WES_URL"] ?? "http://127.0.0.1:1/missing" }

    /// The CWL tools shipped with the tests, by file name.
    public static func tool(_ name: String) -> String {
        repository.appendingPathComponent("Tests/LauncherWESTests/cwl/\(name)").path
    }

    public static func check() throws {
        guard ProcessInfo.processInfo.environment["WFL_TEST_WES_URL"] != nil else {
            throw TestFailure("no WES server: run the tests with scripts/test.sh, which runs scripts/wes-up.sh")
        }
    }

    /// Stops the server (its runs go on), as an outage would.
    public static func stop() async throws {
        let result = try await Command.run([repository.appendingPathComponent("scripts/wes-down.sh").path], timeout: .seconds(60))
        guard result.status == 0 else { throw TestFailure("wes-down.sh failed: \(result.message)") }
    }

    public static func start() async throws {
        let result = try await Command.run([repository.appendingPathComponent("scripts/wes-up.sh").path], timeout: .seconds(300))
        guard result.status == 0 else { throw TestFailure("wes-up.sh failed: \(result.message)") }
    }

    /// A run's record, straight from the server.
    public static func run(_ id: String) async throws -> JSONValue {
        try await get("/runs/\(id)")
    }

    /// Ids of the runs whose `wfl_workflow` tag is this workflow.
    public static func runs(taggedWith workflow: String) async throws -> [String] {
        var found: [String] = []
        for entry in try await get("/runs")["workflows"]?.arrayValue ?? [] {
            guard let id = entry["run_id"]?.stringValue else { continue }
            if try await run(id)["request"]?["tags"]?["wfl_workflow"]?.stringValue == workflow { found.append(id) }
        }
        return found
    }

    static func get(_ path: String) async throws -> JSONValue {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + path), timeout: .seconds(10))
        return try JSONValue.parse(String(buffer: try await response.body.collect(upTo: 1 << 26)))
    }
}
