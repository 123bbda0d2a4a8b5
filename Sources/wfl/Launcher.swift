import ArgumentParser
import Foundation
import LauncherCore
import LauncherNotifications
import LauncherPostgres
import LauncherStages
import Logging
import ServiceLifecycle
import UnixSignals

struct GlobalOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Run operator commands on this wfl serve over HTTP, with the token in $WFL_TOKEN (default: $WFL_SERVER).",
            valueName: "url"))
    var server: String?

    @Option(
        name: .customLong("database-url"),
        help: "PostgreSQL URL (default: $WFL_DATABASE_URL, else the embedded database in $WFL_HOME).")
    var databaseURL: String?

    @Flag(name: .long, help: "Print JSON instead of tables.")
    var json = false

    @Option(
        name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default: $WFL_LOG_LEVEL or warning)."
    )
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text, or json: one JSON object per line (default: $WFL_LOG_FORMAT or text).")
    var logFormat: String?
}

/// Migrates, builds the launcher's parts, then runs the given services until shutdown.
private struct LaunchService: Service {
    let connection: Launcher.Connection
    let updaterOptions: UpdaterOptions
    let services: @Sendable (Launcher) async throws -> [any Service]

    func run() async throws {
        let launcher = try await Launcher.make(connection, updaterOptions: updaterOptions)
        let group = ServiceGroup(
            configuration: .init(
                services: try await services(launcher).map { .init(service: $0) }, logger: connection.logger))
        try await group.run()
    }
}

/// What every command works with: the service layer and the updater over one database.
struct Launcher: Sendable {
    let service: WorkloadService
    let updater: Updater
    /// Sends the notification outbox (`serve` beside the update loop, `update` after its pass).
    let notifier: Notifier
    let migrator: Migrator
    let logger: Logger
    let databaseDescription: String

    enum Migrations { case apply, check, none }

    /// Where the database is, with the embedded one started when no URL is given.
    struct Connection: Sendable {
        let database: Database
        let lease: EmbeddedLease?
        let endpoint: DatabaseEndpoint
        let home: URL
        let logger: Logger
        let policy: Migrations

        var description: String { lease == nil ? endpoint.description : "embedded (\(endpoint.description))" }
    }

    static func connect(_ options: GlobalOptions, migrations: Migrations, defaultLogLevel: Logger.Level) async throws -> Connection {
        if options.server != nil {
            throw LauncherError.invalid(
                "--server", "this command works on the database (--database-url, $WFL_DATABASE_URL); --server is for operator commands")
        }
        let logger = try bootstrapLogging(options.logLevel, format: options.logFormat, default: defaultLogLevel)
        let home = EmbeddedPostgres.defaultHome()
        let url = options.databaseURL ?? Settings.process[.databaseURL]
        var lease: EmbeddedLease?
        let endpoint: DatabaseEndpoint
        if let url {
            endpoint = try DatabaseURL.endpoint(url)
        } else {
            let embedded = EmbeddedPostgres(home: home, logger: logger)
            lease = try await embedded.acquire()
            endpoint = embedded.endpoint
        }
        let policy = lease != nil && migrations == .check ? .apply : migrations  // the embedded database is ours to migrate
        do {
            try await endpoint.verifyReachable(logger: logger)
        } catch {
            await lease?.release()
            throw error
        }
        let deadline = Settings.process.seconds(.databaseTimeout, default: 30, range: 1...600)
        return Connection(
            database: Database(
                configuration: endpoint.clientConfiguration(), deadline: .milliseconds(Int64(deadline * 1000)),
                logger: logger), lease: lease,
            endpoint: endpoint, home: home, logger: logger, policy: policy)
    }

    /// Connects (starting the embedded database when no URL is given), checks or applies the
    /// schema, runs `body`, and releases the embedded database.
    static func with<T: Sendable>(
        _ options: GlobalOptions, migrations: Migrations = .check, defaultLogLevel: Logger.Level = .warning,
        updaterOptions: UpdaterOptions = UpdaterOptions(), _ body: @escaping @Sendable (Launcher) async throws -> T
    ) async throws -> T {
        let connection = try await connect(options, migrations: migrations, defaultLogLevel: defaultLogLevel)
        do {
            let result = try await connection.database.run { _ in
                try await body(try await make(connection, updaterOptions: updaterOptions))
            }
            await connection.lease?.release()
            return result
        } catch {
            await connection.lease?.release()
            throw error
        }
    }

    /// For `serve`: the database client runs as a service of one `ServiceGroup` beside the
    /// services `make` returns (the HTTP server, the update loop), so SIGTERM stops them first
    /// and the client last.
    static func serving(
        _ options: GlobalOptions, updaterOptions: UpdaterOptions,
        _ services: @escaping @Sendable (Launcher) async throws -> [any Service]
    ) async throws {
        let connection = try await connect(options, migrations: .apply, defaultLogLevel: .info)
        let launch = LaunchService(connection: connection, updaterOptions: updaterOptions, services: services)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: connection.database.client), .init(service: launch)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: connection.logger)
        // A pass in progress finishes first (its calls all have deadlines); past this, cancel.
        configuration.maximumGracefulShutdownDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch {
            await connection.lease?.release()
            throw error
        }
        await connection.lease?.release()
    }

    /// Checks or applies the schema, then builds the launcher's parts.
    static func make(_ connection: Connection, updaterOptions: UpdaterOptions) async throws -> Launcher {
        let database = connection.database, logger = connection.logger
        let migrator = try Migrator(database: database)
        switch connection.policy {
        case .apply:
            try await migrator.migrate()
        case .check:
            let pending = try await migrator.migrate(dryRun: true)
            if !pending.isEmpty {
                throw LauncherError(
                    .unavailable,
                    "the database at \(connection.description) needs migrations (\(pending.joined(separator: ", "))); run `wfl migrate`")
            }
        case .none:
            break
        }
        let parts = LauncherParts(
            store: PostgresStore(database: database, logger: logger), registry: .builtin,
            environment: LauncherEnvironment(home: connection.home), options: updaterOptions, logger: logger)
        let (notifier, problems) = NotificationChannels.notifier(store: parts.store, settings: .process, logger: logger)
        for problem in problems { logger.warning("notifications: \(problem)") }
        return Launcher(
            service: parts.service.acting(as: .local(defaultCreator())), updater: parts.updater, notifier: notifier,
            migrator: migrator, logger: logger, databaseDescription: connection.description)
    }

    static func bootstrapLogging(_ level: String?, format: String? = nil, default defaultLevel: Logger.Level) throws -> Logger {
        let text = level ?? Settings.process[.logLevel]
        var resolved = defaultLevel
        if let text, !text.isEmpty {
            guard let parsed = Logger.Level(rawValue: text.lowercased()) else {
                throw LauncherError.invalid(
                    "--log-level", "unknown level \"\(text)\"; use trace, debug, info, notice, warning, error or critical")
            }
            resolved = parsed
        }
        let format = (format ?? Settings.process[.logFormat] ?? "text").lowercased()
        guard ["text", "json"].contains(format) else {
            throw LauncherError.invalid("--log-format", "unknown format \"\(format)\"; use text or json")
        }
        LoggingSystem.bootstrap { label in
            if format == "json" { return JSONLogHandler(label: label, level: resolved) }
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
    let settings = Settings.process
    if let creator = settings[.creator] { return creator }
    return "\(settings[.user] ?? NSUserName())@\(ProcessInfo.processInfo.hostName)"
}
