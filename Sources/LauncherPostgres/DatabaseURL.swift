import Foundation
import LauncherCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Where the database is: parsed once, turned into a pooled client's configuration or a
/// single probe connection's.
public struct DatabaseEndpoint: Sendable {
    enum Target: Sendable {
        case tcp(host: String, port: Int)
        case socket(path: String)
    }

    enum SSLMode: String, Sendable {
        case disable, prefer, require
    }

    let target: Target
    let username: String
    let password: String?
    let database: String
    let sslMode: SSLMode
    /// For messages: the URL without its password, or the socket.
    public let description: String

    public func clientConfiguration(maxConnections: Int = 40) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch target {
        case .socket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS =
                switch sslMode {
                case .disable: .disable
                case .prefer: .prefer(.makeClientConfiguration())
                case .require: .require(.makeClientConfiguration())
                }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
        configuration.options.maximumConnections = maxConnections
        return configuration
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        switch target {
        case .socket(let path):
            return .init(unixSocketPath: path, username: username, password: password, database: database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS =
                switch sslMode {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            return .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
    }

    static func socket(_ path: String, username: String, database: String) -> DatabaseEndpoint {
        DatabaseEndpoint(
            target: .socket(path: path), username: username, password: nil, database: database,
            sslMode: .disable, description: "\(database) on \(path)")
    }

    /// Opens and closes one connection, so a command fails at once with the reason
    /// (refused, authentication, unknown database) instead of waiting on a pool that keeps
    /// retrying.
    public func verifyReachable(timeout: Duration = .seconds(15), logger: Logger) async throws {
        let configuration = try connectionConfiguration()
        let description = self.description
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let connection = try await PostgresConnection.connect(
                        on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 0, logger: logger)
                    try await connection.close()
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw LauncherError(.unavailable, "database unreachable at \(description): no answer within \(timeout)")
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch let error as LauncherError {
            throw error
        } catch let error as PSQLError {
            let reason = error.serverInfo?[.message] ?? error.underlying.map { "\($0)" } ?? "\(error.code)"
            throw LauncherError(.unavailable, "database unreachable at \(description): \(reason)")
        } catch {
            throw LauncherError(.unavailable, "database unreachable at \(description): \(error)")
        }
    }
}

/// `postgres://user:password@host:port/database?sslmode=disable|prefer|require` (also
/// `postgresql://`; `?host=/folder` for a Unix socket), as libpq spells it.
public enum DatabaseURL {
    public static func endpoint(_ text: String) throws -> DatabaseEndpoint {
        guard let components = URLComponents(string: text),
            components.scheme == "postgres" || components.scheme == "postgresql"
        else {
            throw LauncherError.invalid(
                "WFL_DATABASE_URL", "expected postgres://user:password@host:port/database, got \"\(redacted(text))\"")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        let user = components.user?.removingPercentEncoding ?? Settings.process[.user] ?? "postgres"
        let password = components.password?.removingPercentEncoding
        var database = String(components.path.drop(while: { $0 == "/" })).removingPercentEncoding ?? ""
        if database.isEmpty { database = user }
        let port = components.port ?? Int(query["port"] ?? "") ?? 5432
        let host = query["host"] ?? components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        if host.hasPrefix("/") {
            return DatabaseEndpoint(
                target: .socket(path: "\(host)/.s.PGSQL.\(port)"), username: user, password: password,
                database: database, sslMode: .disable, description: redacted(text))
        }
        let local = ["localhost", "127.0.0.1", "::1"].contains(host)
        let mode: DatabaseEndpoint.SSLMode
        switch query["sslmode"] ?? (local ? "disable" : "prefer") {
        case "disable": mode = .disable
        case "allow", "prefer": mode = .prefer
        case "require", "verify-ca", "verify-full": mode = .require
        case let other:
            throw LauncherError.invalid("WFL_DATABASE_URL", "unknown sslmode \"\(other)\"; use disable, prefer or require")
        }
        return DatabaseEndpoint(
            target: .tcp(host: host, port: port), username: user, password: password,
            database: database, sslMode: mode, description: redacted(text))
    }

    public static func configuration(_ text: String, maxConnections: Int = 40) throws -> PostgresClient.Configuration {
        try endpoint(text).clientConfiguration(maxConnections: maxConnections)
    }

    /// The URL with its password replaced, for messages and logs.
    public static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }
}

/// Lets composition code hold a client configuration without importing PostgresNIO.
public typealias PostgresClientConfiguration = PostgresClient.Configuration
