import Foundation
import LauncherCore
import LauncherStageSupport
import LauncherSystem

/// How many SLURM commands this process ran, by command (for benchmarks and tests).
public enum SlurmCallCounter {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var counts: [String: Int] = [:]

    static func count(_ command: String) {
        lock.lock()
        defer { lock.unlock() }
        counts[command, default: 0] += 1
    }

    public static func snapshot() -> [String: Int] {
        lock.lock()
        defer { lock.unlock() }
        return counts
    }
}

/// The SLURM command-line tools, each call bounded by a timeout, with their output parsed.
/// A command that fails for a reason that may pass (controller unreachable, timeout) throws
/// `SlurmUnavailable`: the caller treats the answer as unknown and asks again later.
struct SlurmClient: Sendable {
    let slurmConf: String?
    let timeout: Duration

    struct Job: Sendable, Equatable {
        var id: String
        var state: String
        var exitCode: Int?
        var name: String?
    }

    enum SubmitResult: Sendable {
        case submitted(String)
        /// SLURM refused the job for good (unknown partition, bad account).
        case refused(String)
        case unavailable(String)
    }

    struct SlurmUnavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// Messages that mean "the controller (or database) cannot answer now", not "no".
    static let transientPatterns = [
        "unable to contact slurm controller", "socket timed out", "temporarily unable", "resource temporarily unavailable",
        "zero bytes were transmitted", "connection refused", "connect failure", "slurm_persist_conn", "transport endpoint",
        "communication connection failure", "slurmdbd", "try again",
    ]

    static func isTransient(_ message: String) -> Bool {
        let lower = message.lowercased()
        return transientPatterns.contains { lower.contains($0) }
    }

    private func run(_ command: String, _ arguments: [String]) async throws -> Command.Result {
        SlurmCallCounter.count(command)
        let start = ContinuousClock.now
        do {
            let result = try await runCommand(command, arguments)
            BackendMetrics.record(
                command, result.status == 0 ? .ok : Self.isTransient(result.message) ? .unavailable : .refused, since: start)
            return result
        } catch {
            BackendMetrics.record(command, .unavailable, since: start)
            throw error
        }
    }

    private func runCommand(_ command: String, _ arguments: [String]) async throws -> Command.Result {
        // sbatch gives the job the environment it runs in: never the launcher's secrets.
        var environment = Settings.forJobs(ProcessInfo.processInfo.environment)
        if let slurmConf { environment["SLURM_CONF"] = slurmConf }
        let result: Command.Result
        do {
            result = try await Command.run([command] + arguments, environment: environment, timeout: timeout)
        } catch {
            throw SlurmUnavailable(description: "\(command) could not run: \(error)")
        }
        if result.timedOut {
            throw SlurmUnavailable(description: "\(command) did not answer within \(timeout)")
        }
        return result
    }

    // MARK: sbatch

    func submit(script: String, arguments: [String]) async -> SubmitResult {
        let result: Command.Result
        do {
            result = try await run("sbatch", ["--parsable"] + arguments + [script])
        } catch {
            return .unavailable("\(error)")
        }
        guard result.status == 0 else {
            let message = result.message.isEmpty ? "sbatch exited with status \(result.status)" : result.message
            return Self.isTransient(message) ? .unavailable(message) : .refused(message)
        }
        guard let id = Self.parseJobID(result.stdout) else {
            return .unavailable("could not read a job id from sbatch's output: \(result.stdout.prefix(200))")
        }
        return .submitted(id)
    }

    /// `123`, or `123;cluster` as `--parsable` prints it; else the one integer in the output.
    static func parseJobID(_ output: String) -> String? {
        let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
        if let match = trimmed.wholeMatch(of: /([0-9]+)(;[^\s]*)?/) { return String(match.output.1) }
        let numbers = trimmed.matches(of: /\b[0-9]+\b/).map { String(trimmed[$0.range]) }
        return numbers.count == 1 ? numbers[0] : nil
    }

    // MARK: squeue

    /// The jobs SLURM's controller still knows (recent ones, within MinJobAge), by id.
    func queue(jobs ids: [String]) async throws -> [String: Job] {
        var found: [String: Job] = [:]
        for chunk in ids.chunked(500) {
            try await queue(["--jobs=\(chunk.joined(separator: ","))"]).forEach { found[$0.id] = $0 }
        }
        return found
    }

    func queue(names: [String]) async throws -> [Job] {
        var found: [Job] = []
        for chunk in names.chunked(100) {
            found += try await queue(["--name=\(chunk.joined(separator: ","))"])
        }
        return found
    }

    private func queue(_ selection: [String]) async throws -> [Job] {
        let result = try await run("squeue", ["--noheader", "--states=all", "--array", "--format=%i|%T|%j"] + selection)
        if result.status != 0 {
            // Asking only for jobs the controller no longer knows is "none", not a failure.
            if result.stderr.contains("Invalid job id specified") { return [] }
            throw SlurmUnavailable(description: "squeue failed: \(result.message)")
        }
        return result.stdout.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3 else { return nil }
            return Job(id: parts[0], state: SlurmState.normalise(parts[1]), exitCode: nil, name: parts[2])
        }
    }

    // MARK: sacct

    /// Finished jobs from the accounting database, by id; nil when accounting is disabled.
    func accounting(jobs ids: [String]) async throws -> [String: Job]? {
        var found: [String: Job] = [:]
        for chunk in ids.chunked(500) {
            guard let jobs = try await accounting(["--jobs=\(chunk.joined(separator: ","))"]) else { return nil }
            jobs.forEach { found[$0.id] = $0 }
        }
        return found
    }

    func accounting(names: [String]) async throws -> [Job]? {
        var found: [Job] = []
        for chunk in names.chunked(100) {
            guard let jobs = try await accounting(["--name=\(chunk.joined(separator: ","))", "--starttime=now-7days"]) else {
                return nil
            }
            found += jobs
        }
        return found
    }

    private func accounting(_ selection: [String]) async throws -> [Job]? {
        let result = try await run("sacct", ["-X", "--parsable2", "--noheader", "--format=JobID,State,ExitCode,JobName"] + selection)
        if result.status != 0 {
            if result.message.lowercased().contains("accounting storage is disabled") { return nil }
            throw SlurmUnavailable(description: "sacct failed: \(result.message)")
        }
        return result.stdout.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 4 else { return nil }
            let exit = parts[2].split(separator: ":").first.flatMap { Int($0) }
            return Job(id: parts[0], state: SlurmState.normalise(parts[1]), exitCode: exit, name: parts[3])
        }
    }

    // MARK: scancel

    /// One `scancel` per 100 jobs. Jobs that already ended are not an error.
    func cancel(jobs ids: [String]) async throws {
        for chunk in ids.chunked(100) {
            let result = try await run("scancel", Array(chunk))
            if result.status != 0 && Self.isTransient(result.message) {
                throw SlurmUnavailable(description: "scancel failed: \(result.message)")
            }
        }
    }
}
