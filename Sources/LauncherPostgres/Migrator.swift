import Foundation
import LauncherCore
import LauncherSchema
import Logging
import PostgresNIO

/// Applies `schema/NNNN_*.sql` in order, each once, recorded in `wfl_schema_migration` with a
/// checksum. Refuses a database whose applied history disagrees with the files (a changed or
/// unknown migration) rather than guessing. Concurrent migrators serialise on a lock.
public struct Migrator: Sendable {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var sql: String
    }

    public struct Status: Sendable {
        public var applied: [Int]
        public var pending: [String]
    }

    let database: Database
    let migrations: [Migration]

    public init(database: Database, migrations: [Migration]? = nil) throws {
        self.database = database
        self.migrations = try migrations ?? Self.bundled()
    }

    public static func bundled() throws -> [Migration] {
        try Schema.migrationFiles().map { url in
            let name = url.deletingPathExtension().lastPathComponent
            return Migration(version: Int(name.prefix(4))!, name: name, sql: try String(contentsOf: url, encoding: .utf8))
        }
    }

    /// Applies what is missing in one transaction; returns the names applied.
    @discardableResult
    public func migrate(dryRun: Bool = false) async throws -> [String] {
        try await database.transaction { [self] connection in
            let logger = database.logger
            try await connection.query("SELECT pg_advisory_xact_lock(5719628, 0)", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS wfl_schema_migration (
                    version  integer PRIMARY KEY,
                    name     text NOT NULL,
                    checksum text NOT NULL,
                    applied  timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var applied: [(version: Int, name: String, checksum: String, at: Date)] = []
            for try await (version, name, checksum, at) in try await connection.query(
                "SELECT version, name, checksum, applied FROM wfl_schema_migration ORDER BY version", logger: logger
            ).decode((Int, String, String, Date).self) {
                applied.append((version, name, checksum, at))
            }
            let pending = try check(applied: applied)
            if dryRun { return pending.map(\.name) }
            for migration in pending {
                for statement in SQLScript.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    """
                    INSERT INTO wfl_schema_migration (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(Self.checksum(migration.sql)))
                    """, logger: logger)
                logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
            }
            return pending.map(\.name)
        }
    }

    private func check(applied: [(version: Int, name: String, checksum: String, at: Date)]) throws -> [Migration] {
        let byVersion = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for row in applied {
            guard let file = byVersion[row.version] else {
                throw LauncherError(
                    .conflict,
                    """
                    The database has migration \(row.name) (applied \(Timestamp.format(row.at))), which this wfl does not ship: \
                    it was migrated by a newer version. Refusing to use it; run the newer wfl, or point WFL_DATABASE_URL elsewhere.
                    """)
            }
            guard file.name == row.name, Self.checksum(file.sql) == row.checksum else {
                throw LauncherError(
                    .conflict,
                    """
                    Migration \(file.name).sql differs from \(row.name), applied to this database on \(Timestamp.format(row.at)) \
                    (checksum \(row.checksum.prefix(12))… vs \(Self.checksum(file.sql).prefix(12))…). The database's history \
                    disagrees with schema/; refusing to guess. Restore the original file, or migrate a fresh database.
                    """)
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = migrations.filter { !appliedVersions.contains($0.version) }
        if let last = applied.last?.version, let gap = pending.first(where: { $0.version < last }) {
            throw LauncherError(
                .conflict,
                """
                Migration \(gap.name).sql is not applied but a later one (\(last)) is: the database's history disagrees \
                with schema/; refusing to apply migrations out of order.
                """)
        }
        return pending
    }

    /// FNV-1a (64 bit) of the file's bytes: enough to notice an edited migration.
    static func checksum(_ sql: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(format: "%016llx", hash)
    }
}
