import Foundation
import LauncherCore
import LauncherSystem
import Logging
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded default database: a private PostgreSQL cluster in `$WFL_HOME/postgres`,
/// created with the machine's own `initdb`, reachable only over a Unix socket in that folder.
///
/// It starts when a `wfl` process needs it and stops when the last `wfl` process using it
/// exits (unless pinned with `wfl db start`). Processes coordinate through two lock files:
/// `start.lock` (held exclusively while starting or stopping) and `users.lock` (held shared by
/// every process using the cluster). A process that dies drops its locks with it.
public final class EmbeddedPostgres: Sendable {
    public let home: URL
    let logger: Logger

    public static let databaseName = "wfl"
    public static let superuser = "wfl"

    public init(home: URL, logger: Logger) {
        self.home = home
        self.logger = logger
    }

    /// `$WFL_HOME`, else `/var/lib/wfl` for root (PostgreSQL runs as another user, which must
    /// reach the folder), else `$XDG_DATA_HOME/wfl` or `~/.local/share/wfl`.
    public static func defaultHome(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let settings = Settings(environment)
        if let home = settings[.home] { return URL(fileURLWithPath: home).standardizedFileURL }
        if geteuid() == 0 { return URL(fileURLWithPath: "/var/lib/wfl") }
        if let data = settings[.xdgDataHome] { return URL(fileURLWithPath: data).appendingPathComponent("wfl") }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/share/wfl")
    }

    var folder: URL { home.appendingPathComponent("postgres") }
    var dataDir: URL { folder.appendingPathComponent("data") }
    var logFile: URL { folder.appendingPathComponent("server.log") }
    var pinFile: URL { folder.appendingPathComponent("keep-running") }
    var startLock: String { home.appendingPathComponent(".postgres-start.lock").path }
    var usersLock: String { home.appendingPathComponent(".postgres-users.lock").path }

    /// The socket folder: inside the data folder when the path is short enough for a Unix
    /// socket (107 bytes), else a per-home folder under /tmp.
    var socketDir: String {
        let inside = folder.appendingPathComponent("run").path
        if inside.utf8.count + 20 < 100 { return inside }
        return "/tmp/wfl-pg-\(getuid())-\(Migrator.checksum(home.path).prefix(10))"
    }

    public var socketPath: String { "\(socketDir)/.s.PGSQL.5432" }

    public var endpoint: DatabaseEndpoint {
        .socket(socketPath, username: Self.superuser, database: Self.databaseName)
    }

    // MARK: Use

    /// Starts the cluster if needed (creating it on first use) and registers this process as a
    /// user until `release()`.
    public func acquire() async throws -> EmbeddedLease {
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let startFD = try Self.lock(startLock, exclusive: true)
        defer { Self.unlock(startFD) }
        let server = try ServerUser.resolve()
        let bin = try Self.binaries()
        try await prepareFolders(server)
        if !FileManager.default.fileExists(atPath: dataDir.appendingPathComponent("PG_VERSION").path) {
            try await initialise(bin: bin, server: server)
        }
        if !(try await isRunning(bin: bin, server: server)) {
            logger.info("starting the embedded PostgreSQL", metadata: ["data": "\(dataDir.path)"])
            let result = try await ServerCommand.run(
                [
                    bin.appendingPathComponent("pg_ctl").path, "-D", dataDir.path, "-l", logFile.path,
                    "-w", "-t", "60", "-o", "-c listen_addresses='' -c unix_socket_directories='\(socketDir)' -c port=5432",
                    "start",
                ], as: server)
            guard result.status == 0 else {
                let log = Self.tail(logFile.path)
                throw LauncherError(
                    .unavailable,
                    "the embedded PostgreSQL in \(dataDir.path) did not start: \(result.message)\(log.map { "\n\($0)" } ?? "")")
            }
        }
        try await createDatabase()
        let usersFD = try Self.lock(usersLock, exclusive: false)
        return EmbeddedLease(postgres: self, usersFD: usersFD)
    }

    /// Called by `EmbeddedLease.release()`: stop the cluster if no other process uses it.
    func releaseUser(_ usersFD: Int32) async {
        Self.unlock(usersFD)
        guard let startFD = try? Self.lock(startLock, exclusive: true) else { return }
        defer { Self.unlock(startFD) }
        guard !FileManager.default.fileExists(atPath: pinFile.path) else { return }
        guard let probe = ProcessTools.tryLockFile(usersLock) else { return }  // someone else still uses it
        defer { Self.unlock(probe) }
        try? await stop()
    }

    /// Keeps the cluster running between commands (`wfl db start`), or lets it stop with its
    /// last user again (`wfl db stop`).
    public func pin(_ keep: Bool) throws {
        if keep {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: pinFile.path, contents: Data("pinned by wfl db start\n".utf8))
        } else {
            try? FileManager.default.removeItem(at: pinFile)
        }
    }

    public var isPinned: Bool { FileManager.default.fileExists(atPath: pinFile.path) }

    /// Stops the cluster if it runs and no process uses it; returns whether it is stopped.
    public func stopIfUnused() async throws -> Bool {
        let startFD = try Self.lock(startLock, exclusive: true)
        defer { Self.unlock(startFD) }
        guard let probe = ProcessTools.tryLockFile(usersLock) else { return false }
        defer { Self.unlock(probe) }
        try await stop()
        return true
    }

    public func status() async throws -> String {
        guard FileManager.default.fileExists(atPath: dataDir.appendingPathComponent("PG_VERSION").path) else {
            return "not created (it is created in \(dataDir.path) on first use)"
        }
        let running = (try? await isRunning(bin: Self.binaries(), server: ServerUser.resolve())) ?? false
        return running ? "running, socket \(socketPath)\(isPinned ? ", pinned" : "")" : "stopped (data in \(dataDir.path))"
    }

    private func stop() async throws {
        let bin = try Self.binaries()
        let server = try ServerUser.resolve()
        guard try await isRunning(bin: bin, server: server) else { return }
        logger.info("stopping the embedded PostgreSQL (no wfl process uses it)")
        _ = try await ServerCommand.run(
            [bin.appendingPathComponent("pg_ctl").path, "-D", dataDir.path, "-m", "fast", "-w", "-t", "60", "stop"],
            as: server)
    }

    // MARK: Set-up

    private func prepareFolders(_ server: ServerUser) async throws {
        for dir in [folder.path, socketDir] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if let user = server.user { chown(dir, user.uid, user.gid) }
        }
        if let user = server.user {
            // The server user must be able to reach its folder through every parent.
            let check = try await ServerCommand.run(["/usr/bin/test", "-w", folder.path], as: server)
            if check.status != 0 {
                throw LauncherError(
                    .unavailable,
                    """
                    PostgreSQL refuses to run as root, so the embedded database runs as the user \(user.name), \
                    who cannot reach \(folder.path). Set WFL_HOME to a folder \(user.name) can reach \
                    (the default for root is /var/lib/wfl), or set WFL_DATABASE_URL to a server you run.
                    """)
            }
        }
    }

    private func initialise(bin: URL, server: ServerUser) async throws {
        logger.info("creating the embedded PostgreSQL cluster", metadata: ["data": "\(dataDir.path)"])
        let result = try await ServerCommand.run(
            [
                bin.appendingPathComponent("initdb").path, "-D", dataDir.path, "-U", Self.superuser,
                "-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=reject",
            ], as: server)
        guard result.status == 0 else {
            throw LauncherError(.unavailable, "initdb failed for \(dataDir.path): \(result.message)")
        }
    }

    private func isRunning(bin: URL, server: ServerUser) async throws -> Bool {
        try await ServerCommand.run([bin.appendingPathComponent("pg_ctl").path, "-D", dataDir.path, "status"], as: server).status == 0
    }

    private func createDatabase() async throws {
        let admin = DatabaseEndpoint.socket(socketPath, username: Self.superuser, database: "postgres")
        let database = Database(configuration: admin.clientConfiguration(maxConnections: 2), logger: logger)
        try await database.run { database in
            let exists = try await database.rows("SELECT 1 FROM pg_database WHERE datname = \(Self.databaseName)")
            if exists.isEmpty {
                try await database.execute("CREATE DATABASE \(Self.databaseName)")
            }
        }
    }

    /// The folder holding `initdb`, `pg_ctl` and `postgres`.
    public static func binaries(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        searchRoots: [String] = ["/usr/lib/postgresql", "/usr", "/opt/homebrew/bin", "/usr/local/bin"]
    ) throws -> URL {
        func valid(_ dir: String) -> Bool {
            ["initdb", "pg_ctl", "postgres"].allSatisfy { FileManager.default.isExecutableFile(atPath: "\(dir)/\($0)") }
        }
        if let dir = Settings(environment)[.pgBin] {
            guard valid(dir) else {
                throw LauncherError(.unavailable, "WFL_PG_BIN=\(dir) does not hold initdb, pg_ctl and postgres")
            }
            return URL(fileURLWithPath: dir)
        }
        // Debian/Ubuntu keep each major version apart; RHEL uses /usr/pgsql-N; others put them on PATH.
        var candidates: [String] = []
        for root in searchRoots {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            candidates += entries.compactMap { Int($0) }.sorted(by: >).map { "\(root)/\($0)/bin" }
            candidates += entries.filter { $0.hasPrefix("pgsql-") }.sorted(by: >).map { "\(root)/\($0)/bin" }
        }
        candidates += (Settings(environment)[.path] ?? "").split(separator: ":").map(String.init)
        candidates += searchRoots
        if let dir = candidates.first(where: valid) { return URL(fileURLWithPath: dir) }
        throw LauncherError(
            .unavailable,
            """
            The embedded database needs the PostgreSQL server programs (initdb, pg_ctl, postgres), and none were found. \
            Install them (Debian/Ubuntu: apt-get install postgresql; Fedora/RHEL: dnf install postgresql-server; \
            macOS: brew install postgresql@16), or set WFL_PG_BIN to the folder that holds them, \
            or set WFL_DATABASE_URL to a PostgreSQL server you already run.
            """)
    }

    // MARK: Helpers

    static func lock(_ path: String, exclusive: Bool) throws -> Int32 {
        do {
            return try ProcessTools.lockFile(path, exclusive: exclusive)
        } catch {
            throw LauncherError(.unavailable, "\(error)")
        }
    }

    static func unlock(_ fd: Int32) { ProcessTools.unlockFile(fd) }

    static func tail(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").suffix(10).joined(separator: "\n")
    }
}

/// This process's registration as a user of the embedded cluster.
public final class EmbeddedLease: Sendable {
    let postgres: EmbeddedPostgres
    let usersFD: Int32
    private let released = LockedFlag()

    init(postgres: EmbeddedPostgres, usersFD: Int32) {
        self.postgres = postgres
        self.usersFD = usersFD
    }

    /// Stops the cluster when this was its last user. Safe to call more than once.
    public func release() async {
        guard released.setOnce() else { return }
        await postgres.releaseUser(usersFD)
    }
}

final class LockedFlag: @unchecked Sendable {
    private var value = false
    private let lock = NSLock()

    /// True the first time only.
    func setOnce() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if value { return false }
        value = true
        return true
    }
}

/// Who runs the server: this user, or — when this is root, which PostgreSQL refuses — the
/// user `WFL_PG_OS_USER` (default `postgres`).
struct ServerUser {
    struct Account {
        let name: String
        let uid: uid_t
        let gid: gid_t
    }
    let user: Account?

    static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerUser {
        guard geteuid() == 0 else { return ServerUser(user: nil) }
        let name = Settings(environment)[.pgOSUser] ?? "postgres"
        guard let entry = getpwnam(name) else {
            throw LauncherError(
                .unavailable,
                """
                PostgreSQL refuses to run as root, and the user "\(name)" it would run as does not exist. Create it \
                (useradd --system \(name)), set WFL_PG_OS_USER to an existing user, or run wfl as a normal user.
                """)
        }
        return ServerUser(user: Account(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid))
    }
}

/// Runs a short command to completion, as another user when asked.
enum ServerCommand {
    static func run(_ arguments: [String], as server: ServerUser) async throws -> Command.Result {
        var arguments = arguments
        if let user = server.user { arguments = ["/usr/sbin/runuser", "-u", user.name, "--"] + arguments }
        return try await Command.run(arguments, workingDirectory: "/", timeout: .seconds(120))
    }
}
