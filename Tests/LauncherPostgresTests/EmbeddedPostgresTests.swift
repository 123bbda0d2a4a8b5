import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import PostgresNIO
import Testing

@Suite struct EmbeddedPostgresTests {
    @Test func missingServerProgramsSayWhatToInstallOrSet() {
        do {
            _ = try EmbeddedPostgres.binaries(environment: ["PATH": "/nonexistent"], searchRoots: ["/nonexistent"])
            Issue.record("found binaries where there are none")
        } catch let error as LauncherError {
            #expect(error.message.contains("apt-get install postgresql"))
            #expect(error.message.contains("WFL_PG_BIN"))
            #expect(error.message.contains("WFL_DATABASE_URL"))
        } catch {
            Issue.record("\(error)")
        }
        #expect(throws: LauncherError.self) { try EmbeddedPostgres.binaries(environment: ["WFL_PG_BIN": "/tmp"]) }
    }

    @Test func findsTheInstalledServerPrograms() throws {
        let bin = try EmbeddedPostgres.binaries(environment: [:])
        #expect(FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path))
    }

    @Test func defaultHomeFollowsTheEnvironment() {
        #expect(EmbeddedPostgres.defaultHome(environment: ["WFL_HOME": "/srv/wfl"]).path == "/srv/wfl")
        if geteuid() == 0 {
            #expect(EmbeddedPostgres.defaultHome(environment: [:]).path == "/var/lib/wfl")
        } else {
            #expect(EmbeddedPostgres.defaultHome(environment: ["XDG_DATA_HOME": "/x"]).path == "/x/wfl")
        }
    }

    @Test func databaseURLsParseAndBadOnesNameTheVariable() throws {
        let tcp = try DatabaseURL.configuration("postgres://u:p%40ss@db.example.org:6543/launcher?sslmode=require")
        #expect(tcp.host == "db.example.org" && tcp.port == 6543)
        #expect(tcp.username == "u" && tcp.password == "p@ss" && tcp.database == "launcher")
        let socket = try DatabaseURL.configuration("postgresql://u@/wfl?host=/var/run/postgresql")
        #expect(socket.unixSocketPath == "/var/run/postgresql/.s.PGSQL.5432")
        #expect(DatabaseURL.redacted("postgres://u:secret@h/db") == "postgres://u:***@h/db")
        for bad in ["mysql://x", "not a url", "postgres://h/db?sslmode=sometimes"] {
            do {
                _ = try DatabaseURL.configuration(bad)
                Issue.record("accepted \(bad)")
            } catch let error as LauncherError {
                #expect(error.details["field"] == "WFL_DATABASE_URL")
                #expect(!error.message.contains("secret"))
            } catch { Issue.record("\(error)") }
        }
    }
}
