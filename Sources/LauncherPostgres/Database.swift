import Foundation
import LauncherCore
import Logging
import PostgresNIO

/// A pooled PostgreSQL client plus the launcher's conventions: errors become `LauncherError`s
/// that say what the server said, and transactions rethrow the caller's own error.
public final class Database: Sendable {
    public let client: PostgresClient
    let logger: Logger
    /// Every call has a time limit: a server that went away (or a pool whose connection
    /// requests hang while it is down) becomes an error, never a wait without end.
    public let deadline: Duration

    public init(configuration: PostgresClient.Configuration, deadline: Duration = .seconds(30), logger: Logger) {
        self.deadline = deadline
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
        _ = try await rows(PostgresQuery(unsafeSQL: sql))
    }

    /// The first column of the first row, as text (administration, tests).
    public func scalarText(_ sql: String) async throws -> String? {
        try await rows(PostgresQuery(unsafeSQL: sql)).first?.decode(String?.self)
    }

    /// The first column of the first row, as an integer (administration, tests).
    public func scalar(_ sql: String) async throws -> Int? {
        try await rows(PostgresQuery(unsafeSQL: sql)).first?.decode(Int?.self)
    }

    /// The limit on one call, for messages.
    var within: Deadline { Deadline(deadline, "the database") }

    /// Collects every row (queries with bounded results only), within the deadline.
    func rows(_ query: PostgresQuery, deadline: Duration? = nil) async throws -> [PostgresRow] {
        let client = self.client, logger = self.logger
        do {
            return try await Deadline(deadline ?? self.deadline, "the database").run {
                var rows: [PostgresRow] = []
                for try await row in try await client.query(query, logger: logger) { rows.append(row) }
                return rows
            }
        } catch {
            throw Self.translate(error)
        }
    }

    /// Runs `body` in a transaction on a pooled connection, within `deadline` (default: the
    /// database's) for the whole of it.
    func transaction<T: Sendable>(deadline: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let client = self.client, logger = self.logger
        do {
            return try await Deadline(deadline ?? self.deadline, "the database").run {
                try await client.withConnection { connection in
                    try await Self.transaction(on: connection, logger: logger, body)
                }
            }
        } catch {
            throw Self.translate(error)
        }
    }

    /// The one transaction helper: postgres-nio's `withTransaction` (BEGIN, COMMIT, ROLLBACK on
    /// error), rethrowing the body's own error rather than the wrapper.
    static func transaction<T: Sendable>(
        on connection: PostgresConnection, logger: Logger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        // (The caller's deadline covers this: a pooled transaction, or a queue call below.)
        do {
            return try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw translate(error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? error)
        } catch {
            throw translate(error)
        }
    }

    /// PostgreSQL errors as `LauncherError`s: a message fit for any caller, and the server's
    /// own words (message, detail, SQLSTATE) as the internal detail for the log and the CLI.
    static func translate(_ error: any Error) -> any Error {
        if error is LauncherError || error is CancellationError { return error }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                let detail = error.serverInfo?[.detail].map { ": \($0)" } ?? ""
                return LauncherError(
                    .internalError, "the database refused an operation", internalDetail: "database error: \(message)\(detail)\(state)")
            }
            return LauncherError(.unavailable, "the database is unreachable", internalDetail: "database unreachable: \(error.code)")
        }
        return LauncherError(
            .unavailable, "the database is unreachable", internalDetail: "database unreachable: \(String(reflecting: error))")
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
