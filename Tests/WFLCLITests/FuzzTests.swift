import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import NIOHTTP1
import Testing

/// The project's own API fuzzer (Tests/fuzz/fuzz_api.py: Hypothesis, fixed seed) against a real
/// `wfl serve` confined to one folder: no 5xx, every error JSON, nothing slower than 5 s, the
/// server alive throughout, and nothing written outside the folder it may use.
@Suite struct FuzzTests {
    @Test(.timeLimit(.minutes(10)))
    func mutatedRequestsNeverBreakTheServer() async throws {
        try await TestLauncher.with { launcher in
            let root = try TestFiles.temporaryFolder("fuzz-root")
            // The server's working folder: a relative path that slipped through would land here.
            let cwd = try TestFiles.temporaryFolder("fuzz-cwd")
            let scratch = try TestFiles.temporaryFolder("fuzz-scratch")
            let serve = ServeProcess(
                wfl: WFLBinary(databaseURL: launcher.url, home: launcher.home), home: launcher.home, interval: 1,
                extra: ["WFL_ALLOWED_ROOTS": root.path, "WFL_SECRETS_DIR": root.appendingPathComponent("secrets").path],
                workingDirectory: cwd.path)
            guard await serve.requireHealthy() else { return }
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("fuzz/fuzz_api.py").path
            let examples = ProcessInfo.processInfo.environment["WFL_FUZZ_EXAMPLES"] ?? "2000"
            let result = try await Command.run(
                ["python3", script, "--base", serve.base, "--root", root.path, "--examples", examples, "--seed", "7"],
                workingDirectory: scratch.path, timeout: .seconds(540))
            print(result.stdout.split(separator: "\n").prefix(45).joined(separator: "\n"))
            #expect(result.status == 0, "the fuzzer found failures:\n\(result.stdout.suffix(6000))\n\(result.stderr.suffix(2000))")
            #expect(try await serve.http(.GET, "/health").status == 200)
            // The hostile paths it sent were never written.
            for path in ["/tmp/wfl-fuzz-escape", "/etc/wfl-fuzz-escape", "\(NSHomeDirectory())/x", "\(cwd.path)/relative"] {
                #expect(!FileManager.default.fileExists(atPath: path), "the fuzz run wrote \(path)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: cwd.path).isEmpty)
            let stopped = try await serve.stop()
            #expect(stopped.status == 0, "\(stopped.stderr.suffix(2000))")
        }
    }
}
