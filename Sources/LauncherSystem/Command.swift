import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a command to completion without blocking the concurrency pool. The command runs in
/// its own process group; on timeout (or when the calling task is cancelled) the whole group
/// gets SIGTERM, then SIGKILL two seconds later. Output goes to temporary files rather than
/// pipes, so a daemon the command leaves behind (`pg_ctl start`) cannot hold the launcher up,
/// and large outputs (`squeue` over thousands of jobs) cannot fill a pipe.
///
/// The exit is found by polling `waitpid(pid, WNOHANG)` (1 ms at first, then at most every
/// 50 ms), not by a notification: swift-subprocess 1.0.2's exit monitoring lost exits when
/// many children ended at once on a loaded machine, and the awaiting task then hung for good,
/// timeout or not. A poll cannot miss an exit, and only this pid is ever reaped.
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
        let out = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            if out >= 0 { close(out) }
            if err >= 0 { close(err) }
        }
        guard out >= 0, err >= 0 else { throw ProcessError("cannot create output files in \(FileManager.default.temporaryDirectory.path)") }
        let pid = try spawn(arguments, environment: environment, workingDirectory: workingDirectory, stdout: out, stderr: err)

        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        var timedOut = false
        var killAt: ContinuousClock.Instant?
        var killed = false
        var pause = Duration.milliseconds(1)
        var raw: Int32 = 0
        while true {
            let reaped = waitpid(pid, &raw, WNOHANG)
            if reaped == pid { break }
            if reaped == -1 && errno != EINTR {
                throw ProcessError("lost track of \(arguments[0]) (pid \(pid)): \(String(cString: strerror(errno)))")
            }
            let now = clock.now
            if killAt == nil, Task.isCancelled || deadline.map({ now >= $0 }) == true {
                timedOut = !Task.isCancelled
                kill(-pid, SIGTERM)
                killAt = now + .seconds(2)
            } else if let at = killAt, !killed, now >= at {
                kill(-pid, SIGKILL)
                killed = true
            }
            await pauseIgnoringCancellation(pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        // Whatever the command left in its group goes with it when it was stopped.
        if killAt != nil { kill(-pid, SIGKILL) }
        if !timedOut && killAt != nil { throw CancellationError() }
        let signal = raw & 0x7f
        let status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        return Result(status: timedOut ? 128 + SIGTERM : status, stdout: read(outPath), stderr: read(errPath), timedOut: timedOut)
    }

    /// A sleep that a cancelled task still waits out (`Task.sleep` would return at once, and
    /// the poll above would spin).
    private static func pauseIgnoringCancellation(_ duration: Duration) async {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { continuation.resume() }
        }
    }

    /// posix_spawn in a new process group, stdin from /dev/null, stdout and stderr to the
    /// given files, no other descriptors, default signal handling (the launcher ignores SIGPIPE).
    private static func spawn(
        _ arguments: [String], environment: [String: String]?, workingDirectory: String?, stdout: Int32, stderr: Int32
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        if let workingDirectory {
            guard let addChdir = GNUSpawn.addChdir else { throw ProcessError("posix_spawn cannot change folders on this system") }
            let rc = workingDirectory.withCString { addChdir(&actions, $0) }
            guard rc == 0 else { throw ProcessError("cannot run in \(workingDirectory): \(String(cString: strerror(rc)))") }
        }
        if let closeFrom = GNUSpawn.addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGCHLD, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { values in values.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let rc: Int32
        if let envp {
            rc =
                arguments[0].contains("/")
                ? posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
                : posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        } else {
            rc =
                arguments[0].contains("/")
                ? posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
                : posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        }
        guard rc == 0 else { throw ProcessError("cannot run \(arguments[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    private static func read(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

/// glibc's posix_spawn extensions, which the Glibc module does not export: found at run time.
private enum GNUSpawn {
    typealias FileAction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static let addChdir: FileAction? = symbol("posix_spawn_file_actions_addchdir_np")
    static let addCloseFrom: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(pointer, to: T.self)
    }
}
