import Foundation
import LauncherCore
import LauncherPostgres
import Logging

/// One fresh, migrated database per test on the PostgreSQL `WFL_TEST_DATABASE_URL` names
/// (scripts/pg-up.sh starts one; scripts/test.sh exports the URL).
public enum TestDatabase {
    public static let logger: Logger = {
        var logger = Logger(label: "wfl-test")
        logger.logLevel = ProcessInfo.processInfo.environment["WFL_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }()

    public static func adminURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["WFL_TEST_DATABASE_URL"], !url.isEmpty else {
            throw TestFailure("WFL_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL")
        }
        return url
    }

    /// The URL of database `name` on the test server.
    public static func url(database name: String) throws -> String {
        var components = URLComponents(string: try adminURL())!
        components.path = "/\(name)"
        return components.string!
    }

    /// Creates an empty database, runs `body` with a client on it (migrated unless told
    /// otherwise), and drops it.
    public static func with<T: Sendable>(
        migrate: Bool = true, _ body: @escaping @Sendable (Database, String) async throws -> T
    ) async throws -> T {
        let name = "wfltest_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        try await admin("CREATE DATABASE \(name)")
        do {
            let url = try url(database: name)
            let configuration = try DatabaseURL.configuration(url, maxConnections: 12)
            let database = Database(configuration: configuration, logger: logger)
            let result = try await database.run { database in
                if migrate { try await Migrator(database: database).migrate() }
                return try await body(database, url)
            }
            try? await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            return result
        } catch {
            try? await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
    }

    public static func admin(_ sql: String) async throws {
        let database = Database(configuration: try DatabaseURL.configuration(adminURL()), logger: logger)
        try await database.run { database in try await database.execute(sql) }
    }
}
