import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum LogStream: String, Sendable, CaseIterable {
    case stdout, stderr
}

/// Where an executor keeps a workflow's output.
public enum WorkflowLogLocation: Sendable {
    /// `name` in the workflow's own work folder, `folder`, which must lie below the executor's
    /// work `root` without a symbolic link on the way (a job can replace files in its folder).
    case file(root: URL, folder: URL, name: String)
    /// Text the executor fetched from its backend, already bounded.
    case text(String)
    /// The executor keeps none the launcher can read; the message says where to look.
    case unavailable(String, link: String? = nil)
}

/// A piece of a log: the text, where it starts in the file and how large the file is, so a
/// follower asks for what came after.
public struct LogChunk: Sendable, Equatable {
    public var text: String
    /// The byte offset of `text` in the log.
    public var start: Int64
    /// The offset just past the bytes answered: where a follower asks from next (`text` may
    /// hold replacement characters for bytes that are not UTF-8, so its length is no guide).
    public var end: Int64
    /// The log's size in bytes when read (0 when it does not exist yet).
    public var size: Int64
    /// Earlier bytes or lines were left out (a tail, or a chunk past the byte limit).
    public var truncated: Bool
    public var exists: Bool

    public init(text: String, start: Int64, end: Int64? = nil, size: Int64, truncated: Bool, exists: Bool = true) {
        self.text = text
        self.start = start
        self.end = end ?? start + Int64(text.utf8.count)
        self.size = size
        self.truncated = truncated
        self.exists = exists
    }
}

/// Reads pieces of log files without ever loading more than `maxBytes` of them.
public enum LogReader {
    /// The most one read returns: a tail of a 10 GB log costs one seek and one megabyte.
    public static let maxBytes = 1 << 20
    public static let maxTailLines = 10_000

    /// The last `tail` lines (within the last `maxBytes`), or the bytes from `offset` on (at
    /// most `maxBytes`). A file that does not exist yet is an empty log.
    public static func read(_ location: (root: URL, folder: URL, name: String), tail: Int?, from offset: Int64?) throws -> LogChunk {
        guard let fd = try openConfined(location) else { return LogChunk(text: "", start: 0, size: 0, truncated: false, exists: false) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw unreadable() }
        let size = Int64(info.st_size)
        if let offset {
            let start = min(max(0, offset), size)
            var bytes = try readBytes(fd, at: start, count: Int(min(size - start, Int64(maxBytes))))
            // A chunk cut at the byte limit ends on a whole character; the rest comes next time.
            if start + Int64(bytes.count) < size { bytes.removeLast(trailingPartialCharacter(bytes)) }
            let end = start + Int64(bytes.count)
            return LogChunk(text: String(decoding: bytes, as: UTF8.self), start: start, end: end, size: size, truncated: end < size)
        }
        let start = max(0, size - Int64(maxBytes))
        let bytes = try readBytes(fd, at: start, count: Int(size - start))
        let cut = tailStart(bytes, lines: min(max(1, tail ?? 100), maxTailLines), partialFirstLine: start > 0)
        return LogChunk(
            text: String(decoding: bytes[cut...], as: UTF8.self), start: start + Int64(cut), end: start + Int64(bytes.count), size: size,
            truncated: start + Int64(cut) > 0)
    }

    /// Where the last `lines` lines of `bytes` begin. A trailing newline ends the last line,
    /// not a new one; when `bytes` begins mid-file and holds fewer lines, its first (partial)
    /// line is left out.
    static func tailStart(_ bytes: [UInt8], lines: Int, partialFirstLine: Bool) -> Int {
        var index = bytes.endIndex
        if index > 0 && bytes[index - 1] == UInt8(ascii: "\n") { index -= 1 }
        var newlines = 0
        while index > 0 {
            index -= 1
            if bytes[index] == UInt8(ascii: "\n") {
                newlines += 1
                if newlines == lines { return index + 1 }
            }
        }
        guard partialFirstLine else { return 0 }
        // The window starts mid-file: drop its first, partial line, or (a window without a
        // newline: a progress bar redrawn with \r) just the partial character it starts in.
        if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")), newline + 1 < bytes.endIndex { return newline + 1 }
        return bytes.firstIndex { $0 & 0xC0 != 0x80 } ?? bytes.endIndex
    }

    /// How many bytes at the end of `bytes` are the start of a character cut off.
    static func trailingPartialCharacter(_ bytes: [UInt8]) -> Int {
        var index = bytes.endIndex
        var continuation = 0
        while index > bytes.startIndex && continuation < 3 && bytes[index - 1] & 0xC0 == 0x80 {
            index -= 1
            continuation += 1
        }
        guard index > bytes.startIndex else { return 0 }
        let lead = bytes[index - 1]
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return length > continuation + 1 ? continuation + 1 : 0
    }

    /// The same cut of a log the backend gave as text.
    public static func slice(_ text: String, tail: Int?, from offset: Int64?) -> LogChunk {
        let bytes = Array(text.utf8)
        let size = Int64(bytes.count)
        if let offset {
            let start = min(max(0, offset), size)
            var chunk = Array(bytes[Int(start)..<Int(min(size, start + Int64(maxBytes)))])
            if start + Int64(chunk.count) < size { chunk.removeLast(trailingPartialCharacter(chunk)) }
            let end = start + Int64(chunk.count)
            return LogChunk(text: String(decoding: chunk, as: UTF8.self), start: start, end: end, size: size, truncated: end < size)
        }
        let window = max(0, bytes.count - maxBytes)
        let cut = window + tailStart(Array(bytes[window...]), lines: min(max(1, tail ?? 100), maxTailLines), partialFirstLine: window > 0)
        return LogChunk(text: String(decoding: bytes[cut...], as: UTF8.self), start: Int64(cut), end: size, size: size, truncated: cut > 0)
    }

    /// Opens the log for reading, walking from the work root one folder at a time without
    /// following a symbolic link (`openat` with `O_NOFOLLOW`, so a folder swapped for a link
    /// between a check and the open cannot redirect it), and only when it is a regular file:
    /// it is first opened as a path (`O_PATH`), which touches no device a job may have made,
    /// and reopened for reading after `fstat` says what it is. Nil when it does not exist yet.
    static func openConfined(_ location: (root: URL, folder: URL, name: String)) throws -> Int32? {
        let declared = location.root.standardizedFileURL.path
        let folder = location.folder.standardizedFileURL.path
        guard folder.hasPrefix(declared + "/"), !location.name.contains("/"), location.name != "..", location.name != "." else {
            throw LauncherError(.internalError, "a log location outside its work root", internalDetail: "\(folder) not in \(declared)")
        }
        // The root itself is the operator's (it may be a link, such as /scratch → /mnt/scratch).
        var directory = open(declared, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory < 0 {
            if errno == ENOENT { return nil }
            throw unreadable()
        }
        for component in folder.dropFirst(declared.count).split(separator: "/") {
            guard component != "..", component != "." else {
                close(directory)
                throw LauncherError(.internalError, "a log path with ..")
            }
            let next = openat(directory, String(component), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let failure = errno
            close(directory)
            if next < 0 {
                if failure == ENOENT { return nil }
                if failure == ELOOP || failure == ENOTDIR { throw refused("the workflow's folder is a symbolic link or not a folder") }
                throw unreadable(failure)
            }
            directory = next
        }
        defer { close(directory) }
        let path = openat(directory, location.name, Self.openPathOnly | O_NOFOLLOW | O_CLOEXEC)
        if path < 0 {
            if errno == ENOENT { return nil }
            throw unreadable()
        }
        defer { close(path) }
        var info = stat()
        guard fstat(path, &info) == 0 else { throw unreadable() }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw refused("the log is a symbolic link or not a regular file") }
        let fd = open("/proc/self/fd/\(path)", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw unreadable() }
        return fd
    }

    /// Linux's O_PATH (Glibc's module leaves it out, as a _GNU_SOURCE flag): the same value on
    /// every architecture Swift runs on Linux.
    static let openPathOnly: Int32 = 0o10000000

    /// A log the launcher will not read: a 409, the folder's state is the problem (not the
    /// caller's role, not the request).
    static func refused(_ message: String) -> LauncherError {
        LauncherError(.conflict, message + "; it is not read")
    }

    static func unreadable(_ code: Int32 = errno) -> LauncherError {
        LauncherError(.unavailable, "the log cannot be read", internalDetail: String(cString: strerror(code)))
    }

    private static func readBytes(_ fd: Int32, at offset: Int64, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw unreadable()
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }
}
