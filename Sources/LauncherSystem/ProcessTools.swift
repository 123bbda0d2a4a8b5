import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Small POSIX helpers for executors that run local processes.
public enum ProcessTools {
    /// Takes a `flock` on a file (creating it), waiting for it; returns the descriptor to unlock.
    public static func lockFile(_ path: String, exclusive: Bool) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ProcessError("cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            guard errno == EINTR else {
                let message = String(cString: strerror(errno))
                close(fd)
                throw ProcessError("cannot lock \(path): \(message)")
            }
        }
        return fd
    }

    /// Takes an exclusive `flock` only if nobody holds any lock on the file; nil otherwise.
    public static func tryLockFile(_ path: String) -> Int32? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    public static func unlockFile(_ fd: Int32) {
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// Starts `/bin/sh script` in a new session, detached from the launcher: it survives the
    /// launcher's exit and a Ctrl-C at its terminal. `setsid --fork` double-forks, so the
    /// launcher only waits for the short-lived intermediate process and never leaves zombies.
    public static func spawnDetached(script: String) throws {
        let argv = ["/usr/bin/setsid", "--fork", "/bin/sh", script]
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in [Int32(0), 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        guard rc == 0 else {
            throw ProcessError("cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    /// Whether some process holds an exclusive `flock` on the file (the wrapper's liveness lock).
    public static func isLocked(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// Signals a whole process group; true when the group existed.
    @discardableResult
    public static func signalGroup(_ pgid: Int32, _ signal: Int32) -> Bool {
        guard pgid > 1 else { return false }
        return kill(-pgid, signal) == 0
    }

    public static func groupExists(_ pgid: Int32) -> Bool {
        guard pgid > 1 else { return false }
        return kill(-pgid, 0) == 0 || errno == EPERM
    }

    /// Writes a file through a temporary name and a rename: readers see all of it or nothing.
    public static func writeAtomically(_ text: String, to url: URL, executable: Bool = false) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        func failure(_ what: String) -> ProcessError {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            return ProcessError("cannot \(what) \(url.path): \(reason)")
        }
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, executable ? 0o755 : 0o644)
        guard fd >= 0 else { throw failure("write") }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                close(fd)
                throw failure("write")
            }
            bytes = bytes.dropFirst(written)
        }
        guard close(fd) == 0 else { throw failure("write") }
        guard rename(temporary.path, url.path) == 0 else { throw failure("write") }
    }

    /// `mkdir -p`, with the system's reason when it fails ("Permission denied").
    public static func makeFolder(_ path: String) throws {
        var current = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw ProcessError("cannot create folder \(path): \(String(cString: strerror(errno)))")
            }
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
            throw ProcessError("cannot create folder \(path): a file of that name is in the way")
        }
    }

    /// Removes the temporary files `writeAtomically` leaves when a process is killed mid-write
    /// (`.<name>.<pid>.tmp` of a process that no longer runs). Returns how many went.
    @discardableResult
    public static func removeStaleTemporaries(in folder: String) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            guard let match = name.wholeMatch(of: /\..+\.([0-9]+)\.tmp/), let pid = Int32(match.output.1) else { continue }
            if pid == getpid() || (kill(pid, 0) == 0 || errno == EPERM) { continue }  // still writing
            if unlink(folder + "/" + name) == 0 { removed += 1 }
        }
        return removed
    }

    /// What stands in the way of writing into `path` later, without leaving anything behind:
    /// nil when the folder exists and a file can be made in it, or the nearest folder above it
    /// that exists lets a folder be made in it (checked by making one and removing it at once;
    /// permission bits alone do not tell, e.g. for root or on /proc).
    public static func folderProblem(_ path: String) -> String? {
        var current = path
        while true {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: current, isDirectory: &isFolder) {
                guard isFolder.boolValue else { return "\(current) exists and is not a folder" }
                let probe = current + "/.wfl-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                guard mkdir(probe, 0o700) == 0 else {
                    return "cannot create anything in \(current): \(String(cString: strerror(errno)))"
                }
                rmdir(probe)
                return nil
            }
            let parent = (current as NSString).deletingLastPathComponent
            if parent == current || parent.isEmpty { return "no folder of \(path) exists" }
            current = parent
        }
    }

    /// Single-quotes a value for /bin/sh: nothing inside is expanded.
    public static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The last `bytes` of a file, for error messages (stderr tails).
    public static func tail(of path: String, bytes: Int = 2048) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return nil }
        try? handle.seek(toOffset: size > UInt64(bytes) ? size - UInt64(bytes) : 0)
        guard let data = try? handle.readToEnd(), !data.isEmpty else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public struct ProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
