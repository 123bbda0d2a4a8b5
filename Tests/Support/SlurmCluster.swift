import Foundation
import LauncherCore
import LauncherSystem

/// A single-node SLURM cluster started by scripts/slurm-up.sh: `plain` without accounting,
/// `accounting` with slurmdbd + MariaDB (so `sacct` answers). scripts/test.sh exports both.
public struct SlurmCluster: Sendable, CustomStringConvertible {
    public let name: String
    public let conf: String

    public var description: String { name }

    public static var plain: SlurmCluster { SlurmCluster(name: "without accounting", variable: "WFL_TEST_SLURM_CONF") }
    public static var accounting: SlurmCluster { SlurmCluster(name: "with accounting", variable: "WFL_TEST_SLURM_ACCT_CONF") }
    public static var both: [SlurmCluster] { [plain, accounting] }

    init(name: String, variable: String) {
        self.name = name
        self.conf = ProcessInfo.processInfo.environment[variable] ?? "/missing-\(variable)"
    }

    /// Fails with a clear message when the cluster was not started.
    public func check() throws {
        guard FileManager.default.fileExists(atPath: conf) else {
            throw TestFailure("no SLURM cluster (\(name)) at \(conf): run the tests with scripts/test.sh, which starts it")
        }
    }

    /// The cluster's state folder (where slurm-up.sh keeps pid files).
    var stateDir: URL { URL(fileURLWithPath: conf).deletingLastPathComponent().deletingLastPathComponent() }

    /// Runs a SLURM command against this cluster.
    public func run(_ arguments: [String]) async throws -> Command.Result {
        var environment = ProcessInfo.processInfo.environment
        environment["SLURM_CONF"] = conf
        return try await Command.run(arguments, environment: environment, timeout: .seconds(60))
    }

    /// Stops slurmctld (as an outage would), by the pid in its pid file.
    public func stopController() async throws {
        let pidFile = stateDir.appendingPathComponent("run/slurmctld.pid").path
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw TestFailure("no slurmctld pid in \(pidFile)")
        }
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ")[2]
            if state == nil || state == "Z" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("slurmctld \(pid) did not stop")
    }

    /// Starts slurmctld again, keeping its saved state, and waits until it answers.
    public func startController() async throws {
        let result = try await run(["slurmctld"])
        guard result.status == 0 else { throw TestFailure("slurmctld did not start: \(result.message)") }
        for _ in 0..<150 {
            if let ping = try? await run(["scontrol", "ping"]), ping.stdout.contains("is UP") { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("slurmctld did not come back")
    }

    /// How many jobs SLURM knows with this name.
    public func jobs(named name: String) async throws -> [String] {
        let result = try await run(["squeue", "--noheader", "--states=all", "--array", "--format=%i", "--name=\(name)"])
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// Every job (array tasks one by one) whose comment mentions `text`: the launcher puts the
    /// workload's uuid in every job's comment, whatever the job's name.
    public func jobs(commentContaining text: String) async throws -> [String] {
        let result = try await run(["squeue", "--noheader", "--states=all", "--array", "--format=%i|%k"])
        return result.stdout.split(separator: "\n").filter { $0.contains(text) }.map { String($0.split(separator: "|")[0]) }
    }
}
