import ArgumentParser
import Foundation
import Hummingbird
import LauncherAPI
import LauncherCore
import LauncherPostgres
import Logging
import ServiceLifecycle
import UnixSignals

struct UpdaterFlags: ParsableArguments {
    @Option(help: "Workloads updated at once.") var concurrency: Int = 4
    @Option(name: .customLong("batch-size"), help: "Items claimed, workflows launched, polled or delivered per batch.")
    var batchSize: Int = 500

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 10000") }
    }

    var updaterOptions: UpdaterOptions { UpdaterOptions(concurrency: concurrency, batchSize: batchSize) }
}

struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one update pass over all started, unfinished workloads that are due, then exit (for cron).")
    @OptionGroup var updater: UpdaterFlags
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let json = options.json
        let (report, notified) = try await Launcher.with(options, updaterOptions: updater.updaterOptions) { launcher in
            let report = await launcher.updater.runPass()
            // Then what the pass (and earlier ones) left in the outbox, until nothing is due.
            var notified = 0
            do {
                while notified < 100_000 {
                    let tried = try await launcher.notifier.sendDue()
                    if tried == 0 { break }
                    notified += tried
                }
            } catch {
                launcher.logger.warning("notifications: cannot read the outbox: \(error)")
            }
            return (report, notified)
        }
        if json {
            Output.printJSON([
                "due": .int(Int64(report.due)), "updated": .int(Int64(report.updated)),
                "finished": .int(Int64(report.finished)), "skippedLocked": .int(Int64(report.skippedLocked)),
                "failed": .int(Int64(report.failed)), "seconds": .double(report.seconds),
                "notifications": .int(Int64(notified)),
            ])
        } else {
            print(
                "Updated \(report.updated) of \(report.due) due workload(s) in \(String(format: "%.2f", report.seconds)) s: "
                    + "\(report.finished) finished, \(report.skippedLocked) skipped (another updater had them), \(report.failed) failed"
                    + (notified > 0 ? "; \(notified) notification(s) tried." : "."))
        }
        if report.failed > 0 { throw ExitCode(1) }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API and an update pass every --interval seconds, until SIGTERM or Ctrl-C.",
        discussion: """
            Migrates the database first. With --auth (or WFL_AUTH=1) every request but /, /status, /health, /version, \
            /openapi.json and /docs \
            needs a bearer token: an API token (wfl token create) or an OIDC JWT (WFL_OIDC_JWKS, WFL_OIDC_ISSUER, \
            WFL_OIDC_AUDIENCE, WFL_OIDC_ROLES). Authentication is required on any address but loopback.
            """
    )

    @Option(help: "Port to listen on.") var port: Int = 3000
    @Option(help: "Address to listen on (0.0.0.0 for every interface).") var host: String = "127.0.0.1"
    @Option(help: "Seconds between update passes.") var interval: Double = 5
    @Option(name: .customLong("max-body-size"), help: "Largest request body accepted, in bytes (larger ones get 413).")
    var maxBodySize: Int = 256 << 20
    @Flag(help: "Require credentials (API tokens or OIDC JWTs) on every route but the open ones (default: $WFL_AUTH).")
    var auth = false
    @Flag(
        name: .customLong("insecure-no-auth"),
        help: "Listen on a non-loopback address without authentication (anyone who can reach it is an admin).")
    var insecureNoAuth = false
    @OptionGroup var updater: UpdaterFlags
    @OptionGroup var options: GlobalOptions

    /// Whether `host` only accepts connections from this machine.
    static func isLoopback(_ host: String) -> Bool { AuthConfiguration.isLoopback(host: host) }

    func validate() throws {
        let authOn = auth || Settings.process.flag(.auth)
        if !authOn && !insecureNoAuth && !Self.isLoopback(host) {
            throw ValidationError(
                "refusing to listen on \(host) without authentication: anyone who can reach it could run commands on this host. "
                    + "Use --auth (with tokens from `wfl token create`, or OIDC), or --insecure-no-auth behind a proxy that authenticates.")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard interval > 0 && interval <= 86_400 else { throw ValidationError("--interval must be between 0 and 86400 seconds") }
        guard (1024...(4 << 30)).contains(maxBodySize) else { throw ValidationError("--max-body-size must be between 1024 and 4294967296") }
    }

    func run() async throws {
        let (port, host, interval, maxBodySize) = (port, host, interval, maxBodySize)
        let authOn = auth || Settings.process.flag(.auth)
        let metrics = MetricsExport.bootstrapPrometheus()
        try await Launcher.serving(options, updaterOptions: updater.updaterOptions) { launcher in
            let loop = LoopStatus(interval: interval)
            var auth = try AuthConfiguration.from(Settings.process, enabled: authOn, logger: launcher.logger)
            auth.loopbackHostsOnly = !authOn && Self.isLoopback(host)
            if authOn, let oidc = auth.oidc { try await oidc.load() }
            if !authOn && !Self.isLoopback(host) {
                launcher.logger.warning("serving without authentication on a non-loopback address (--insecure-no-auth)")
            }
            let routes = APIRoutes(
                service: launcher.service, maxBodySize: maxBodySize, loop: loop,
                trustedProxies: Settings.process.trustedProxies, auth: auth, metrics: metrics)
            let app = Application(
                router: routes.router(), server: APIRoutes.server,
                configuration: .init(address: .hostname(host, port: port), serverName: "wfl"),
                logger: launcher.logger)
            launcher.logger.info(
                "wfl serving",
                metadata: [
                    "address": "\(host):\(port)", "database": "\(launcher.databaseDescription)", "interval": "\(interval)s",
                    "auth": "\(authOn ? (auth.oidc != nil ? "API tokens and OIDC" : "API tokens") : "off")",
                ])
            return [
                UpdateLoop(updater: launcher.updater, interval: interval, status: loop, logger: launcher.logger),
                NotifyLoop(notifier: launcher.notifier, interval: min(interval, 2)), app,
            ]
        }
    }
}

/// The periodic update pass, as a service: a pass at start, then one every interval. A pass
/// in progress finishes before shutdown, so no launch is cut off between backend and database.
struct UpdateLoop: Service {
    let updater: Updater
    let interval: Double
    let status: LoopStatus
    let logger: Logger

    func run() async throws {
        // Cancelled, too, ends the loop: the service group cancels it when another service (the
        // HTTP server) fails. It used to look for a graceful shutdown only, and a cancelled loop
        // then spun (every pass and every sleep failing at once) instead of letting serve exit.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let report = await updater.runPass()
            status.passCompleted(listed: report.listed)
            if report.failed > 0 {
                logger.warning("update pass had failures", metadata: ["failed": "\(report.failed)", "due": "\(report.due)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(interval)) }
        }
    }
}

/// Sends the notification outbox beside the update loop, so a slow receiver never holds up
/// a pass.
struct NotifyLoop: Service {
    let notifier: Notifier
    let interval: Double

    func run() async throws {
        try? await cancelWhenGracefulShutdown { await notifier.run(every: .milliseconds(Int64(interval * 1000))) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the schema migrations the database lacks, after checking its applied history against schema/.")
    @Flag(name: .customLong("dry-run"), help: "Only list the migrations that would be applied.") var dryRun = false
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let (dryRun, json) = (dryRun, options.json)
        let names = try await Launcher.with(options, migrations: .none) { launcher in
            try await launcher.migrator.migrate(dryRun: dryRun)
        }
        if json {
            Output.printJSON([(dryRun ? "pending" : "applied"): .array(names.map(JSONValue.string))])
        } else if names.isEmpty {
            print("The database schema is up to date.")
        } else {
            print("\(dryRun ? "Would apply" : "Applied"): \(names.joined(separator: ", "))")
        }
    }
}

struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Manage the embedded database ($WFL_HOME/postgres).",
        subcommands: [DBStart.self, DBStop.self, DBStatus.self])
}

struct DBStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start the embedded database and keep it running between commands.")
    func run() async throws {
        let embedded = try embeddedDatabase()
        try embedded.pin(true)
        let lease = try await embedded.acquire()
        await lease.release()
        print("The embedded database is running (socket \(embedded.socketPath)); `wfl db stop` lets it stop.")
        print(
            "Connect with: psql -h \(URL(fileURLWithPath: embedded.socketPath).deletingLastPathComponent().path) -U \(EmbeddedPostgres.superuser) \(EmbeddedPostgres.databaseName)"
        )
    }
}

struct DBStop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop the embedded database (now, unless a wfl process is using it; then when the last one exits).")
    func run() async throws {
        let embedded = try embeddedDatabase()
        try embedded.pin(false)
        if try await embedded.stopIfUnused() {
            print("The embedded database is stopped.")
        } else {
            print("A wfl process is using the embedded database; it stops when the last one exits.")
        }
    }
}

struct DBStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show whether the embedded database exists and runs.")
    func run() async throws {
        print("Embedded database: \(try await embeddedDatabase().status())")
    }
}

private func embeddedDatabase() throws -> EmbeddedPostgres {
    EmbeddedPostgres(home: EmbeddedPostgres.defaultHome(), logger: try Launcher.bootstrapLogging(nil, default: .warning))
}
