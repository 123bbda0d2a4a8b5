import Foundation
import LauncherCore
import Logging
import PostgresNIO

/// A pooled PostgreSQL client plus the launcher's conventions: errors become `LauncherError`s
/// that say what the server said, and transactions rethrow the caller's own error.
public final class Database: Sendable {
    public let client: PostgresClient
    let logger: Logger

    public init(configuration: PostgresClient.Configuration, logger: Logger) {
        // The pool's own chatter (e.g. a lease requested a moment before `run()` started) is
        // noise to users; failures reach them through the queries that fail.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.logger = logger
    }

    /// Runs `body` while the client's connection pool runs, then shuts the pool down. A
    /// `Database` runs once (a PostgresClient cannot be restarted).
    public func run<T: Sendable>(_ body: @Sendable (Database) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await self.client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(self)
        }
    }

    /// Runs one statement given as text (administration, tests); nothing is bound.
    public func execute(_ sql: String) async throws {
        for try await _ in try await query(PostgresQuery(unsafeSQL: sql)) {}
    }

    /// The first column of the first row, as text (administration, tests).
    public func scalarText(_ sql: String) async throws -> String? {
        try await rows(PostgresQuery(unsafeSQL: sql)).first?.decode(String?.self)
    }

    /// The first column of the first row, as an integer (administration, tests).
    public func scalar(_ sql: String) async throws -> Int? {
        try await rows(PostgresQuery(unsafeSQL: sql)).first?.decode(Int?.self)
    }

    @discardableResult
    func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        do {
            return try await client.query(query, logger: logger)
        } catch {
            throw Self.translate(error)
        }
    }

    /// Collects every row (queries with bounded results only).
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            var rows: [PostgresRow] = []
            for try await row in try await client.query(query, logger: logger) { rows.append(row) }
            return rows
        } catch {
            throw Self.translate(error)
        }
    }

    /// Runs `body` in a transaction on a pooled connection.
    func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await Self.transaction(on: connection, logger: self.logger, body)
            }
        } catch {
            throw Self.translate(error)
        }
    }

    /// The one transaction helper: postgres-nio's `withTransaction` (BEGIN, COMMIT, ROLLBACK on
    /// error), rethrowing the body's own error rather than the wrapper.
    static func transaction<T: Sendable>(on connection: PostgresConnection, logger: Logger,
                                         _ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw translate(error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? error)
        } catch {
            throw translate(error)
        }
    }

    /// PostgreSQL errors as `LauncherError`s carrying the server's own message.
    static func translate(_ error: any Error) -> any Error {
        if error is LauncherError || error is CancellationError { return error }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                let detail = error.serverInfo?[.detail].map { ": \($0)" } ?? ""
                return LauncherError(.internalError, "database error: \(message)\(detail)\(state)")
            }
            return LauncherError(.unavailable, "database unreachable: \(error.code)")
        }
        return LauncherError(.unavailable, "database unreachable: \(String(reflecting: error))")
    }
}

/// Builds SQL with numbered bind parameters when the clauses depend on the request.
struct SQLBuilder {
    var text: String
    var binds = PostgresBindings()
    private var count = 0

    init(_ text: String) { self.text = text }

    /// Appends a bind parameter and returns its placeholder (`$3`).
    mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }

    mutating func append(_ sql: String) { text += sql }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: binds) }
}
