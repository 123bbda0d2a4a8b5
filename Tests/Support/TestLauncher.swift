import Foundation
import LauncherCore
import LauncherPostgres
import LauncherStages
import Logging

/// A launcher wired exactly as `wfl` wires it, over its own freshly migrated database (created
/// on the test PostgreSQL from `WFL_TEST_DATABASE_URL`, dropped afterwards) and its own
/// temporary `WFL_HOME`.
public final class TestLauncher: Sendable {
    public let service: WorkloadService
    public let updater: Updater
    public let store: PostgresStore
    public let database: Database
    public let registry: StageRegistry
    public let home: URL
    /// The database's URL, for a second client or a `wfl` subprocess.
    public let url: String
    public let logger: Logger
    public let environment: LauncherEnvironment

    init(
        database: Database, url: String, home: URL, registry: StageRegistry, options: UpdaterOptions, logger: Logger,
        settings: [String: String]
    ) {
        self.database = database
        self.url = url
        self.home = home
        self.registry = registry
        self.logger = logger
        store = PostgresStore(database: database, logger: logger)
        let environment = LauncherEnvironment(
            home: home, settings: ProcessInfo.processInfo.environment.merging(settings, uniquingKeysWith: { _, test in test }))
        self.environment = environment
        let parts = LauncherParts(store: store, registry: registry, environment: environment, options: options, logger: logger)
        updater = parts.updater
        service = parts.service.acting(as: .local("test"))
    }

    public static let fastOptions = UpdaterOptions(concurrency: 4, batchSize: 100, tickBudget: .seconds(5))

    /// `settings` are added to the process environment the stages see (service URLs, credentials).
    public static func with<T: Sendable>(
        registry: StageRegistry = .builtin, options: UpdaterOptions = fastOptions, settings: [String: String] = [:],
        _ body: @escaping @Sendable (TestLauncher) async throws -> T
    ) async throws -> T {
        try await TestDatabase.with { database, url in
            let home = try TestFiles.temporaryFolder("home")
            defer { try? FileManager.default.removeItem(at: home) }
            let launcher = TestLauncher(
                database: database, url: url, home: home, registry: registry, options: options,
                logger: TestDatabase.logger, settings: settings)
            return try await body(launcher)
        }
    }

    /// Another updater over its own connection pool, as a second process would have.
    public func withSecondUpdater<T: Sendable>(_ body: @escaping @Sendable (Updater) async throws -> T) async throws -> T {
        let second = Database(configuration: try DatabaseURL.configuration(url), logger: logger)
        return try await second.run { database in
            let parts = LauncherParts(
                store: PostgresStore(database: database, logger: self.logger), registry: self.registry,
                environment: self.environment, options: TestLauncher.fastOptions, logger: self.logger)
            return try await body(parts.updater)
        }
    }

    /// Updates the workload (ignoring its wake-up time) until it finishes.
    @discardableResult
    public func runUntilFinished(_ uuid: UUID, timeout: Duration = .seconds(90), pause: Duration = .milliseconds(50))
        async throws -> WorkloadService.WorkloadView
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            let view = try await service.workload(uuid)
            if view.record.finished != nil { return view }
            if ContinuousClock.now > deadline {
                throw TestFailure(
                    "workload \(uuid) did not finish within \(timeout); counts \(view.counts), last error \(view.record.lastError ?? "none")"
                )
            }
            _ = try await updater.update(workloadID: view.record.id, wait: .seconds(5))
            try await Task.sleep(for: pause)
        }
    }

    /// Updates until `condition` holds for the workload's view, recording failed updates on the
    /// workload as the update loop does.
    @discardableResult
    public func updateUntil(
        _ uuid: UUID, timeout: Duration = .seconds(60), _ description: String,
        _ condition: @Sendable (WorkloadService.WorkloadView) -> Bool
    ) async throws -> WorkloadService.WorkloadView {
        let deadline = ContinuousClock.now + timeout
        while true {
            let view = try await service.workload(uuid)
            if condition(view) { return view }
            if ContinuousClock.now > deadline {
                throw TestFailure(
                    "timed out waiting for \(description); counts \(view.counts), last error \(view.record.lastError ?? "none")")
            }
            // As the update loop does: a failed update is recorded on the workload.
            _ = await updater.updateRecordingErrors(view.record, wait: .seconds(5))
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Every workflow of the workload (all pages).
    public func allWorkflows(_ uuid: UUID, status: String? = nil, includeRetried: Bool = false) async throws -> [WorkflowRecord] {
        var result: [WorkflowRecord] = []
        var cursor: String?
        repeat {
            let page = try await service.workflows(
                uuid, status: status, submission: nil, includeRetried: includeRetried,
                cursor: cursor, limit: 1000)
            result += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return result
    }

    /// A workload request with the given stages.
    public static func request(
        project: String = "test", source: JSONValue, executor: JSONValue,
        sink: JSONValue = ["name": "None"], labels: [String] = [], watchers: JSONValue = []
    ) -> JSONValue {
        [
            "project": .string(project), "labels": .array(labels.map(JSONValue.string)), "source": source,
            "executor": executor, "sink": sink, "watchers": watchers,
        ]
    }

    public static func items(_ count: Int, _ make: (Int) -> JSONObject = { ["n": .int(Int64($0))] }) -> JSONValue {
        ["name": "Items", "items": .array((0..<count).map { .object(make($0)) })]
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum TestFiles {
    public static func temporaryFolder(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("wfl-test-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
