import Foundation
import LauncherCore
import NIOSSL
import PostgresNIO

/// `postgres://user:password@host:port/database?sslmode=disable|prefer|require` (also
/// `postgresql://`; `?host=/folder` for a Unix socket), as libpq spells it.
public enum DatabaseURL {
    public static func configuration(_ text: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw LauncherError.invalid("WFL_DATABASE_URL", "expected postgres://user:password@host:port/database, got \"\(redacted(text))\"")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        let user = components.user?.removingPercentEncoding ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        let password = components.password?.removingPercentEncoding
        var database = String(components.path.drop(while: { $0 == "/" })).removingPercentEncoding ?? ""
        if database.isEmpty { database = user }
        let port = components.port ?? Int(query["port"] ?? "") ?? 5432
        let host = query["host"] ?? components.host ?? "localhost"

        var configuration: PostgresClient.Configuration
        if host.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(host)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let local = ["localhost", "127.0.0.1", "::1"].contains(host)
            let tls: PostgresClient.Configuration.TLS
            switch query["sslmode"] ?? (local ? "disable" : "prefer") {
            case "disable": tls = .disable
            case "allow", "prefer": tls = .prefer(.makeClientConfiguration())
            case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
            case let other:
                throw LauncherError.invalid("WFL_DATABASE_URL", "unknown sslmode \"\(other)\"; use disable, prefer or require")
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.maximumConnections = 40
        return configuration
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
