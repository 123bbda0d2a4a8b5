import Foundation
import LauncherCore
import LauncherTestSupport
import Testing

@testable import LauncherPostgres

@Suite struct MigrationTests {
    @Test func appliesInOrderRecordsAndRerunsAsANoOp() async throws {
        try await TestDatabase.with(migrate: false) { database, _ in
            let migrator = try Migrator(database: database)
            let names = try await migrator.migrate(dryRun: true)
            #expect(names.first == "0001_init")
            #expect(try await migrator.migrate() == names)
            #expect(try await database.scalar("SELECT count(*) FROM wfl_schema_migration") == names.count)
            #expect(try await database.scalar("SELECT count(*) FROM workload") == 0)
            #expect(try await migrator.migrate().isEmpty)
            #expect(try await migrator.migrate(dryRun: true).isEmpty)
        }
    }

    @Test func everyMigrationFileShipsWithTheBinary() throws {
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schema")
        let files = try FileManager.default.contentsOfDirectory(atPath: schema.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(
            try Migrator.bundled().map { "\($0.name).sql" } == files,
            "add every schema/*.sql file to the migrations list in Package.swift")
    }

    @Test func anEditedMigrationIsRefused() async throws {
        try await TestDatabase.with { database, _ in
            try await database.execute("UPDATE wfl_schema_migration SET checksum = 'deadbeefdeadbeef' WHERE version = 1")
            do {
                try await Migrator(database: database).migrate()
                Issue.record("migrated over a changed history")
            } catch let error as LauncherError {
                #expect(error.kind == .conflict)
                #expect(error.message.contains("0001_init.sql differs"))
                #expect(error.message.contains("refusing"))
            }
        }
    }

    /// The SQL text itself changed, past its first bytes: the checksum covers all of it.
    @Test func aMigrationWhoseTextChangedAnywhereIsRefused() async throws {
        try await TestDatabase.with { database, _ in
            var edited = try Migrator.bundled()
            edited[0].sql += "\n-- one more comment at the very end\n"
            do {
                try await Migrator(database: database, migrations: edited).migrate()
                Issue.record("migrated over an edited migration")
            } catch let error as LauncherError {
                #expect(error.message.contains("0001_init.sql differs"), "\(error.message)")
            }
        }
    }

    @Test func aMigrationFromANewerVersionIsRefused() async throws {
        try await TestDatabase.with { database, _ in
            try await database.execute("INSERT INTO wfl_schema_migration (version, name, checksum) VALUES (9999, '9999_future', 'x')")
            do {
                try await Migrator(database: database).migrate()
                Issue.record("accepted an unknown migration")
            } catch let error as LauncherError {
                #expect(error.message.contains("9999_future"))
                #expect(error.message.contains("newer version"))
            }
        }
    }

    @Test func concurrentMigratorsApplyOnce() async throws {
        try await TestDatabase.with(migrate: false) { database, _ in
            let migrator = try Migrator(database: database)
            async let a = migrator.migrate()
            async let b = migrator.migrate()
            let (first, second) = try await (a, b)
            // One applies everything, the other finds nothing left to do.
            #expect(Set([first.count, second.count]) == [0, try Migrator.bundled().count])
        }
    }

    @Test func scriptSplittingRespectsQuotesCommentsAndDollarQuotes() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'semi;colon', "odd;name" int);
            /* block; comment */ INSERT INTO a VALUES ('it''s; fine');
            CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            SELECT $1;
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 4)
        #expect(statements[0] == #"CREATE TABLE a (x text DEFAULT 'semi;colon', "odd;name" int)"#)
        #expect(statements[1] == "INSERT INTO a VALUES ('it''s; fine')")
        #expect(statements[2] == "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql")
        #expect(statements[3] == "SELECT $1")
    }
}
