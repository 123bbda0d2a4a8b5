import ArgumentParser
import Foundation
import LauncherCore
import LauncherPostgres
import LauncherStages
import Logging

struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("database-url"),
            help: "PostgreSQL URL (default: $WFL_DATABASE_URL, else the embedded database in $WFL_HOME).")
    var databaseURL: String?

    @Flag(name: .long, help: "Print JSON instead of tables.")
    var json = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default: $WFL_LOG_LEVEL or warning).")
    var logLevel: String?
}

/// What every command works with: the service layer and the updater over one database.
struct Launcher: Sendable {
    let service: WorkloadService
    let updater: Updater
    let migrator: Migrator
    let logger: Logger
    let databaseDescription: String

    enum Migrations { case apply, check, none }

    /// Connects (starting the embedded database when no URL is given), checks or applies the
    /// schema, runs `body`, and releases the embedded database.
    static func with<T: Sendable>(
        _ options: GlobalOptions, migrations: Migrations = .check, defaultLogLevel: Logger.Level = .warning,
        updaterOptions: UpdaterOptions = UpdaterOptions(), _ body: @escaping @Sendable (Launcher) async throws -> T
    ) async throws -> T {
        let logger = try bootstrapLogging(options.logLevel, default: defaultLogLevel)
        let home = EmbeddedPostgres.defaultHome()
        let url = options.databaseURL ?? ProcessInfo.processInfo.environment["WFL_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        var lease: EmbeddedLease?
        let endpoint: DatabaseEndpoint
        if let url {
            endpoint = try DatabaseURL.endpoint(url)
        } else {
            let embedded = EmbeddedPostgres(home: home, logger: logger)
            lease = try await embedded.acquire()
            endpoint = embedded.endpoint
        }
        let description = lease == nil ? endpoint.description : "embedded (\(endpoint.description))"
        let policy = lease != nil && migrations == .check ? .apply : migrations  // the embedded database is ours to migrate
        let database = Database(configuration: endpoint.clientConfiguration(), logger: logger)
        do {
            try await endpoint.verifyReachable(logger: logger)
            let result = try await run(database, policy: policy, home: home, logger: logger, description: description,
                                       updaterOptions: updaterOptions, body)
            await lease?.release()
            return result
        } catch {
            await lease?.release()
            throw error
        }
    }

    private static func run<T: Sendable>(
        _ database: Database, policy: Migrations, home: URL, logger: Logger, description: String,
        updaterOptions: UpdaterOptions, _ body: @escaping @Sendable (Launcher) async throws -> T
    ) async throws -> T {
        try await database.run { database in
            let migrator = try Migrator(database: database)
            switch policy {
            case .apply:
                try await migrator.migrate()
            case .check:
                let pending = try await migrator.migrate(dryRun: true)
                if !pending.isEmpty {
                    throw LauncherError(.unavailable, "the database at \(description) needs migrations (\(pending.joined(separator: ", "))); run `wfl migrate`")
                }
            case .none:
                break
            }
            let store = PostgresStore(database: database, logger: logger)
            let environment = LauncherEnvironment(home: home)
            let updater = Updater(store: store, registry: .builtin, environment: environment, options: updaterOptions, logger: logger)
            let service = WorkloadService(store: store, registry: .builtin, environment: environment, updater: updater, logger: logger)
            return try await body(Launcher(service: service, updater: updater, migrator: migrator, logger: logger,
                                           databaseDescription: description))
        }
    }

    static func bootstrapLogging(_ level: String?, default defaultLevel: Logger.Level) throws -> Logger {
        let text = level ?? ProcessInfo.processInfo.environment["WFL_LOG_LEVEL"]
        var resolved = defaultLevel
        if let text, !text.isEmpty {
            guard let parsed = Logger.Level(rawValue: text.lowercased()) else {
                throw LauncherError.invalid("--log-level", "unknown level \"\(text)\"; use trace, debug, info, notice, warning, error or critical")
            }
            resolved = parsed
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = resolved
            return handler
        }
        var logger = Logger(label: "wfl")
        logger.logLevel = resolved
        return logger
    }
}

func parseUUID(_ text: String) throws -> UUID {
    try WorkloadService.parseUUID(text)
}

/// Reads a JSON document from a file, or from standard input for `-`.
func readJSON(_ path: String) throws -> JSONValue {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw LauncherError.invalid("FILE", "cannot read \(path)")
        }
        data = contents
    }
    do {
        return try JSONValue.parse(data)
    } catch {
        throw LauncherError.invalid("FILE", "\(path) is not valid JSON: \(error)")
    }
}

func defaultCreator() -> String {
    let env = ProcessInfo.processInfo.environment
    if let creator = env["WFL_CREATOR"], !creator.isEmpty { return creator }
    return "\(env["USER"] ?? NSUserName())@\(ProcessInfo.processInfo.hostName)"
}
