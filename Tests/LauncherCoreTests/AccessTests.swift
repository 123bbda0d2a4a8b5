import Foundation
import LauncherCore
import Testing

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
