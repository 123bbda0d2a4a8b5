import Foundation
import LauncherCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct AccessTests {
    @Test func jobsNeverSeeTheLaunchersSecrets() {
        let environment = [
            "PATH": "/usr/bin", "HOME": "/root", "WFL_DATABASE_URL": "postgres://u:p@db/wfl", "PGPASSWORD": "p",
            "GOOGLE_APPLICATION_CREDENTIALS": "/k.json", "AWS_SECRET_ACCESS_KEY": "s", "WFL_SECRET_VARIABLES": "WES_TOKEN",
            "WES_TOKEN": "t", "SLURM_CONF": "/etc/slurm.conf",
        ]
        #expect(Settings.forJobs(environment) == ["PATH": "/usr/bin", "HOME": "/root", "SLURM_CONF": "/etc/slurm.conf"])
    }

    @Test func rolesIncludeTheOnesBefore() throws {
        #expect(Role.viewer < .operator && Role.operator < .admin)
        try Principal(name: "a", role: .admin, kind: .token).require(.viewer, to: "read")
        #expect(throws: LauncherError.self) { try Principal(name: "v", role: .viewer, kind: .token).require(.operator, to: "create") }
        #expect(AccessPolicy().roleNeeded(forExecutor: "Local") == .admin)
        #expect(AccessPolicy().roleNeeded(forExecutor: "SLURM") == .operator)
        let strict = AccessPolicy(settings: Settings(["WFL_OPERATOR_EXECUTORS": "WES, Terra"]))
        #expect(strict.roleNeeded(forExecutor: "SLURM") == .admin && strict.roleNeeded(forExecutor: "WES") == .operator)
    }

    @Test func tokenLifetimes() throws {
        #expect(try APITokens.parseLifetime("30d", field: "expires") == 30 * 86400)
        #expect(try APITokens.parseLifetime("90m", field: "expires") == 5400)
        for bad in ["", "30", "d", "-1d", "0h", "10s", "99999999999d", "1y"] {
            #expect(throws: LauncherError.self, "\(bad)") { _ = try APITokens.parseLifetime(bad, field: "expires") }
        }
    }
}

/// `wfl-build.json` (written by scripts/build-info.sh) is read defensively: a field that is
/// not a short line of text is left out, and a missing or broken file gives no fields.
@Suite struct BuildInfoTests {
    @Test func fieldsAreReadAndHostileOnesLeftOut() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("build-info-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func read(_ text: String) throws -> BuildInfo {
            let path = folder.appendingPathComponent("b.json").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return BuildInfo.read(path)
        }
        let good = try read(
            #"{"commit": "abc123", "committed": "2026-12-01T00:00:00+00:00", "built": "2026-12-01T01:00:00Z", "user": "ada"}"#)
        #expect(good == BuildInfo(commit: "abc123", committed: "2026-12-01T00:00:00+00:00", built: "2026-12-01T01:00:00Z", user: "ada"))
        #expect(good.json["commit"] == "abc123" && good.json.count == 4)
        let hostile = try read(
            #"{"commit": "\#(String(repeating: "a", count: 201))", "committed": "x\ny", "built": 42, "user": ""}"#)
        #expect(hostile == BuildInfo() && hostile.json.isEmpty, "\(hostile)")
        #expect(try read("not json") == BuildInfo())
        #expect(try read("[1]") == BuildInfo())
        #expect(try read(#"{"commit": "x", "padding": "\#(String(repeating: "p", count: 5000))"}"#) == BuildInfo(), "too large")
        #expect(BuildInfo.read(folder.appendingPathComponent("missing.json").path) == BuildInfo())
    }
}

/// Log tails read a bounded amount whatever the file's size, and refuse what is not a
/// regular file in the workflow's own folder.
@Suite struct LogReaderTests {
    let root: URL
    let folder: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("logs-\(UUID().uuidString)")
        folder = root.appendingPathComponent("workload").appendingPathComponent("workflow")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func read(_ name: String = "stdout.log", tail: Int? = nil, from: Int64? = nil) throws -> LogChunk {
        try LogReader.read((root, folder, name), tail: tail, from: from)
    }

    @Test func tailsAndOffsets() throws {
        let path = folder.appendingPathComponent("stdout.log").path
        #expect(try read() == LogChunk(text: "", start: 0, size: 0, truncated: false, exists: false))
        try "a\nb\nc\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try read(tail: 2).text == "b\nc\n" && (try read(tail: 2)).start == 2)
        #expect(try read(tail: 10) == LogChunk(text: "a\nb\nc\n", start: 0, size: 6, truncated: false))
        #expect(try read(from: 4).text == "c\n" && (try read(from: 99)).text.isEmpty)
        try "a\nb\nno newline".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try read(tail: 1).text == "no newline")

        // 3 MiB of lines: a tail reads the last MiB at most, and a long ask gets whole lines only.
        let line = String(repeating: "x", count: 99) + "\n"
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 0)
        for _ in 0..<(3 * 10_486) { handle.write(Data(line.utf8)) }
        handle.write(Data("last\n".utf8))
        try handle.close()
        let tail = try read(tail: 3)
        #expect(tail.text == line + line + "last\n" && tail.truncated)
        let long = try read(tail: 10_000)
        #expect(
            long.text.utf8.count <= LogReader.maxBytes && long.text.hasPrefix("x") && long.text.hasSuffix("last\n"),
            "\(long.text.prefix(20))")
        let chunk = try read(from: 0)
        #expect(chunk.text.utf8.count == LogReader.maxBytes && chunk.truncated && chunk.size > 3_000_000)
        #expect(LogReader.slice("1\n2\n3", tail: 2, from: nil) == LogChunk(text: "2\n3", start: 2, size: 5, truncated: true))
    }

    /// Chunks end on whole characters and report where they end in bytes, so a follower
    /// neither skips nor repeats a byte, whatever the log holds.
    @Test func followingCountsBytesNotCharacters() throws {
        let path = folder.appendingPathComponent("stdout.log").path
        var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: LogReader.maxBytes - 1) + Array("éz\n".utf8) + [0xFF, 0x0A]
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let first = try read(from: 0)
        #expect(first.end == Int64(LogReader.maxBytes - 1) && first.truncated, "the é is not cut in two: \(first.end)")
        let second = try read(from: first.end)
        #expect(second.text.hasPrefix("éz\n") && second.end == Int64(bytes.count) && !second.truncated, "\(second.text)")
        // Another MiB with no newline at all (a progress bar redrawn with \r): the tail is not empty.
        bytes += [UInt8](repeating: UInt8(ascii: "#"), count: LogReader.maxBytes + 10)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let bar = try read(tail: 5)
        #expect(bar.text.utf8.count == LogReader.maxBytes && bar.text.allSatisfy { $0 == "#" } && bar.truncated)
        let text = LogReader.slice(String(repeating: "x", count: LogReader.maxBytes + 5), tail: nil, from: 3)
        #expect(
            text.start == 3 && text.end == Int64(LogReader.maxBytes + 3) && text.size == Int64(LogReader.maxBytes + 5) && text.truncated)
    }

    @Test func linksFifosDevicesAndEscapesAreRefused() throws {
        func refused(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let error = #expect(throws: LauncherError.self, sourceLocation: sourceLocation) { try read(name) }
            #expect(
                error?.kind == .conflict && error?.message.contains("not read") == true, "\(String(describing: error))",
                sourceLocation: sourceLocation)
        }
        try FileManager.default.createSymbolicLink(
            atPath: folder.appendingPathComponent("stdout.log").path, withDestinationPath: "/etc/hostname")
        refused("stdout.log")
        let fifo = folder.appendingPathComponent("stderr.log").path
        #expect(mkfifo(fifo, 0o600) == 0)
        refused("stderr.log")  // refused, not blocked on
        if getuid() == 0 {
            // A job that can make device nodes (a root container) gets none opened.
            #expect(mknod(folder.appendingPathComponent("device.log").path, S_IFCHR | 0o600, dev_t(1 << 8 | 3)) == 0)  // 1,3: /dev/null
            refused("device.log")
        }
        // A folder on the way that is a link (the job swapped its folder) is refused too.
        let swapped = root.appendingPathComponent("other")
        try FileManager.default.createSymbolicLink(atPath: swapped.path, withDestinationPath: folder.deletingLastPathComponent().path)
        let viaLink = #expect(throws: LauncherError.self) {
            try LogReader.read((root, swapped.appendingPathComponent("workflow"), "stdout.log"), tail: nil, from: nil)
        }
        #expect(viaLink?.kind == .conflict, "\(String(describing: viaLink))")
        #expect(throws: LauncherError.self) {
            try LogReader.read((root, root.deletingLastPathComponent(), "stdout.log"), tail: nil, from: nil)
        }
        #expect(throws: LauncherError.self) { try LogReader.read((root, folder, "../stdout.log"), tail: nil, from: nil) }
    }
}
