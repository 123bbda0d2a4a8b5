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
    /// The log's size in bytes when read (0 when it does not exist yet).
    public var size: Int64
    /// Earlier bytes or lines were left out (a tail, or a chunk past the byte limit).
    public var truncated: Bool
    public var exists: Bool

    public init(text: String, start: Int64, size: Int64, truncated: Bool, exists: Bool = true) {
        self.text = text
        self.start = start
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
        let path = try confined(location)
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return LogChunk(text: "", start: 0, size: 0, truncated: false, exists: false) }
            if errno == ELOOP { throw LauncherError(.forbidden, "the log is a symbolic link; it is not read") }
            throw LauncherError(.unavailable, "the log cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw LauncherError(.forbidden, "the log is not a regular file; it is not read")
        }
        let size = Int64(info.st_size)
        if let offset {
            let start = min(max(0, offset), size)
            let count = Int(min(size - start, Int64(maxBytes)))
            let bytes = try readBytes(fd, at: start, count: count)
            return LogChunk(text: String(decoding: bytes, as: UTF8.self), start: start, size: size, truncated: start + Int64(count) < size)
        }
        let start = max(0, size - Int64(maxBytes))
        let bytes = try readBytes(fd, at: start, count: Int(size - start))
        let cut = tailStart(bytes, lines: min(max(1, tail ?? 100), maxTailLines), partialFirstLine: start > 0)
        return LogChunk(
            text: String(decoding: bytes[cut...], as: UTF8.self), start: start + Int64(cut), size: size, truncated: start + Int64(cut) > 0)
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
        return partialFirstLine ? (bytes.firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.endIndex) : 0
    }

    /// The same cut of a log the backend gave as text.
    public static func slice(_ text: String, tail: Int?, from offset: Int64?) -> LogChunk {
        let bytes = Array(text.utf8)
        let size = Int64(bytes.count)
        if let offset {
            let start = min(max(0, offset), size)
            let end = min(size, start + Int64(maxBytes))
            return LogChunk(
                text: String(decoding: bytes[Int(start)..<Int(end)], as: UTF8.self), start: start, size: size, truncated: end < size)
        }
        let cut = tailStart(bytes, lines: min(max(1, tail ?? 100), maxTailLines), partialFirstLine: false)
        return LogChunk(text: String(decoding: bytes[cut...], as: UTF8.self), start: Int64(cut), size: size, truncated: cut > 0)
    }

    /// The log's path, after checking that nothing between the work root and the file is a
    /// symbolic link: a job may replace its folder with a link to somewhere else.
    static func confined(_ location: (root: URL, folder: URL, name: String)) throws -> String {
        let root = location.root.standardizedFileURL.resolvingSymlinksInPath().path
        let folder = location.folder.standardizedFileURL.path
        let declared = location.root.standardizedFileURL.path
        guard folder.hasPrefix(declared + "/"), !location.name.contains("/") else {
            throw LauncherError(.internalError, "a log location outside its work root", internalDetail: "\(folder) not in \(declared)")
        }
        let below = String(folder.dropFirst(declared.count))
        var resolved = root
        for component in below.split(separator: "/") {
            resolved += "/" + component
            var info = stat()
            if lstat(resolved, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
                throw LauncherError(.forbidden, "the workflow's folder is a symbolic link; its logs are not read")
            }
        }
        return resolved + "/" + location.name
    }

    private static func readBytes(_ fd: Int32, at offset: Int64, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LauncherError(.unavailable, "the log cannot be read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }
}
