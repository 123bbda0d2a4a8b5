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
