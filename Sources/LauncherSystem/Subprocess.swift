import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command to completion without blocking the concurrency pool: `posix_spawn`, then a
/// non-blocking `waitpid` loop. Output goes to temporary files rather than pipes, so a
/// daemon the command leaves behind (`pg_ctl start`) cannot hold the launcher up, and large
/// outputs (`squeue` over thousands of jobs) cannot fill a pipe. The command runs in its own
/// process group; on timeout the whole group is terminated, then killed.
public enum Subprocess {
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

    public static func run(_ arguments: [String], environment: [String: String]? = nil,
                           workingDirectory: String? = nil, timeout: Duration? = nil) async throws -> Result {
        precondition(!arguments.isEmpty, "no command")
        // posix_spawn's chdir is a GNU extension Swift's Glibc module does not expose; coreutils' env does it.
        let arguments = workingDirectory.map { ["/usr/bin/env", "-C", $0] + arguments } ?? arguments
        let folder = FileManager.default.temporaryDirectory.path
        let stem = "\(folder)/wfl-\(getpid())-\(UUID().uuidString)"
        let (outPath, errPath) = ("\(stem).out", "\(stem).err")
        defer {
            unlink(outPath)
            unlink(errPath)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envStrings = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let envp = envStrings.map { $0.map { strdup($0) } + [nil] }
        defer { envp?.forEach { free($0) } }

        var pid: pid_t = 0
        let rc = envp.map { posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, $0) }
            ?? posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw ProcessError("cannot run \(arguments[0]): \(String(cString: strerror(rc)))")
        }

        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        var status: Int32 = 0
        var timedOut = false
        var pause = Duration.milliseconds(1)
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result == -1 && errno != EINTR { throw ProcessError("lost track of \(arguments[0]): \(String(cString: strerror(errno)))") }
            if let deadline, clock.now >= deadline, !timedOut {
                timedOut = true
                kill(-pid, SIGTERM)
                // Give it two seconds to go, then take the whole group down.
                let grace = clock.now + .seconds(2)
                while waitpid(pid, &status, WNOHANG) == 0 && clock.now < grace {
                    try? await Task.sleep(for: .milliseconds(20))
                }
                kill(-pid, SIGKILL)
                if waitpid(pid, &status, 0) == pid || errno == ECHILD { break }
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        let exit: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exit, stdout: read(outPath), stderr: read(errPath), timedOut: timedOut)
    }

    private static func read(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
