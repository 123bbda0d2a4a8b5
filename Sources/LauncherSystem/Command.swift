import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a command to completion without blocking the concurrency pool, on swift-subprocess.
/// The command runs in its own process group; on timeout (or when the calling task is
/// cancelled) the whole group gets SIGTERM, then SIGKILL two seconds later. Output goes to
/// temporary files rather than pipes, so a daemon the command leaves behind (`pg_ctl start`)
/// cannot hold the launcher up, and large outputs (`squeue` over thousands of jobs) cannot
/// fill a pipe.
public enum Command {
    public struct Result: Sendable {
        /// The exit code, or 128 + the signal that ended the command.
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var timedOut: Bool

        /// stderr, else stdout, trimmed: what to show a user when the command failed.
        public var message: String {
            let err = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return err.isEmpty ? stdout.trimmingCharacters(in: .whitespacesAndNewlines) : err
        }
    }

    public static func run(
        _ arguments: [String], environment: [String: String]? = nil,
        workingDirectory: String? = nil, timeout: Duration? = nil
    ) async throws -> Result {
        precondition(!arguments.isEmpty, "no command")
        let stem = "\(FileManager.default.temporaryDirectory.path)/wfl-\(getpid())-\(UUID().uuidString)"
        let (outPath, errPath) = ("\(stem).out", "\(stem).err")
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        let out = try FileDescriptor.open(FilePath(outPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        let err = try FileDescriptor.open(FilePath(errPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])

        var options = PlatformOptions()
        options.processGroupID = 0  // a group of its own, so a timeout takes its children down too
        options.teardownSequence = [.send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        let executable: Executable = arguments[0].contains("/") ? .path(FilePath(arguments[0])) : .name(arguments[0])
        let variables: Environment =
            environment.map { values in
                .custom(Dictionary(uniqueKeysWithValues: values.map { (Environment.Key(rawValue: $0.key)!, $0.value) }))
            } ?? .inherit
        let configuration = Configuration(
            executable: executable, arguments: Arguments(Array(arguments.dropFirst())), environment: variables,
            workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options)

        let outcome: TerminationStatus?
        do {
            outcome = try await withThrowingTaskGroup(of: TerminationStatus?.self) { group in
                group.addTask {
                    try await Subprocess.run(
                        configuration, output: .fileDescriptor(out, closeAfterSpawningProcess: true),
                        error: .fileDescriptor(err, closeAfterSpawningProcess: true)
                    ).terminationStatus
                }
                if let timeout {
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        return nil  // the deadline came first
                    }
                }
                let first = try await group.next() ?? nil
                group.cancelAll()  // cancelling the run tears the process group down
                return first
            }
        } catch let error as SubprocessError {
            throw ProcessError("cannot run \(arguments[0]): \(error)")
        }
        let status: Int32
        switch outcome {
        case .exited(let code)?: status = Int32(code)
        case .signaled(let signal)?: status = 128 + Int32(signal)
        case nil: status = 128 + SIGTERM
        }
        return Result(status: status, stdout: read(outPath), stderr: read(errPath), timedOut: outcome == nil)
    }

    private static func read(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
