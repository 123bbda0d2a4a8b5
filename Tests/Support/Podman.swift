import Foundation
import LauncherSystem

/// Rootful podman prepared by scripts/container-up.sh (CONTAINERS_CONF points at its config),
/// with the tiny busybox image `localhost/tiny:latest`.
public enum Podman {
    public static let image = "localhost/tiny:latest"

    public static func check() throws {
        guard let conf = ProcessInfo.processInfo.environment["CONTAINERS_CONF"], FileManager.default.fileExists(atPath: conf) else {
            throw TestFailure("podman is not set up: run the tests with scripts/test.sh, which runs scripts/container-up.sh")
        }
    }

    public static func run(_ arguments: [String]) async throws -> Command.Result {
        try await Command.run(["podman"] + arguments, timeout: .seconds(60))
    }

    /// Names of the containers carrying the workload's label.
    public static func containers(workload: String) async throws -> [String] {
        let result = try await run(["ps", "--all", "--filter", "label=wfl.workload=\(workload)", "--format", "{{.Names}}"])
        return result.stdout.split(separator: "\n").map(String.init)
    }
}
