import Foundation
import LauncherCore
import Logging
import Testing

/// The scenarios every `LauncherStore` must pass, run against the in-memory store (fast, in
/// LauncherCoreTests) and against PostgreSQL (in LauncherPostgresTests).
///
/// Each scenario gets a fresh, empty store from `withStore` and drives it the way the launcher
/// does — through `LauncherParts` (the service and the updater) with the contract's own
/// scriptable stages (ContractStages.swift) — and, where a rule is finer than an update can
/// show, through the store's queues directly. The assertions state the rules; a store that
/// breaks one fails the scenario.
///
///     @Test(arguments: StoreScenario.allCases)
///     func contract(_ scenario: StoreScenario) async throws {
///         try await StoreContract { body in try await body(MemoryStore()) }.run(scenario)
///     }
public struct StoreContract: Sendable {
    /// Runs `body` with a fresh, empty store, then disposes of it.
    public typealias StoreScope = @Sendable (_ body: @escaping @Sendable (any LauncherStore) async throws -> Void) async throws -> Void

    let withStore: StoreScope
    let knownDifferences: [KnownDifference: String]

    /// `knownDifferences`: rules this store is known to break, with why; their checks are
    /// recorded as known issues (and flagged once the store is fixed).
    public init(knownDifferences: [KnownDifference: String] = [:], withStore: @escaping StoreScope) {
        self.withStore = withStore
        self.knownDifferences = knownDifferences
    }

    public func run(_ scenario: StoreScenario) async throws {
        let contract = self
        try await withStore { store in
            let harness = Harness(store: store, contract: contract)
            try await scenario.run(harness)
        }
    }

    /// Runs checks of a rule the store is known to break as a known issue.
    func checking(_ difference: KnownDifference, _ body: () async throws -> Void) async rethrows {
        if let why = knownDifferences[difference] {
            await withKnownIssue(Comment(rawValue: why)) { try await body() }
        } else {
            try await body()
        }
    }
}

/// Rules a store may be known to break (see `StoreContract.init`).
public enum KnownDifference: String, Sendable, CaseIterable {
    /// A launch batch with both expanded and launched outcomes counts every workflow it
    /// launched (the expansions and the launched ones) in `LaunchTally.launched`.
    case launchTallyCountsExpansionsWithLaunches
    /// An error thrown by `withWorkloadLock`'s body reaches the caller unchanged (a
    /// quarantine stays a quarantine, not "the database is unreachable").
    case lockBodyErrorsPassThrough
}

public enum StoreScenario: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case createCountsAndListing
    case claimLaunchPollDeliverFinish
    case conditionalStateChanges
    case deferredLaunchesBackOffThenGiveUp
    case expansionReplacesItsPlaceholder
    case retrySemantics
    case abortUnclaimedAndPending
    case deliveriesRetriedSetAsideRejectedRedelivered
    case workloadLockExcludesASecondHolder
    case dueWorkloadsAndWakeTimes
    case quarantineRecordedAndCleared
    case eventsAndCursors
    case openSourcePollsUntilStopped
    case concurrentUpdatersNeverLaunchTwice
    case tokensAndWhoDidWhat
    case notificationOutbox

    public var testDescription: String { rawValue }

    func run(_ h: Harness) async throws {
        switch self {
        case .createCountsAndListing: try await Scenarios.createCountsAndListing(h)
        case .claimLaunchPollDeliverFinish: try await Scenarios.claimLaunchPollDeliverFinish(h)
        case .conditionalStateChanges: try await Scenarios.conditionalStateChanges(h)
        case .deferredLaunchesBackOffThenGiveUp: try await Scenarios.deferredLaunchesBackOffThenGiveUp(h)
        case .expansionReplacesItsPlaceholder: try await Scenarios.expansionReplacesItsPlaceholder(h)
        case .retrySemantics: try await Scenarios.retrySemantics(h)
        case .abortUnclaimedAndPending: try await Scenarios.abortUnclaimedAndPending(h)
        case .deliveriesRetriedSetAsideRejectedRedelivered: try await Scenarios.deliveriesRetriedSetAsideRejectedRedelivered(h)
        case .workloadLockExcludesASecondHolder: try await Scenarios.workloadLockExcludesASecondHolder(h)
        case .dueWorkloadsAndWakeTimes: try await Scenarios.dueWorkloadsAndWakeTimes(h)
        case .quarantineRecordedAndCleared: try await Scenarios.quarantineRecordedAndCleared(h)
        case .eventsAndCursors: try await Scenarios.eventsAndCursors(h)
        case .openSourcePollsUntilStopped: try await Scenarios.openSourcePollsUntilStopped(h)
        case .concurrentUpdatersNeverLaunchTwice: try await Scenarios.concurrentUpdatersNeverLaunchTwice(h)
        case .tokensAndWhoDidWhat: try await Scenarios.tokensAndWhoDidWhat(h)
        case .notificationOutbox: try await Scenarios.notificationOutbox(h)
        }
    }
}

/// The scenarios' bodies (one file per area).
enum Scenarios {}

struct ContractFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One scenario's store, backend and launcher parts.
final class Harness: Sendable {
    let store: any LauncherStore
    let contract: StoreContract
    let backend = ContractBackend()
    /// Slack and e-mail configured, so workloads may have such watchers (nothing is sent).
    let environment = LauncherEnvironment(
        home: URL(fileURLWithPath: NSTemporaryDirectory()), settings: ["WFL_SLACK_TOKEN": "contract", "WFL_SMTP_SERVER": "127.0.0.1"])
    let logger: Logger = {
        var logger = Logger(label: "wfl-store-contract")
        logger.logLevel = .critical
        return logger
    }()
    let parts: LauncherParts

    static let options = UpdaterOptions(concurrency: 2, batchSize: 100, tickBudget: .seconds(5))

    init(store: any LauncherStore, contract: StoreContract) {
        self.store = store
        self.contract = contract
        parts = LauncherParts(
            store: store, registry: backend.registry(), environment: environment, options: Self.options,
            logger: logger)
    }

    var service: WorkloadService { parts.service.acting(as: .local("contract")) }
    var updater: Updater { parts.updater }

    /// Other parts over the same store (another updater, other policies, another registry).
    func parts(options: UpdaterOptions = Harness.options, registry: StageRegistry? = nil) -> LauncherParts {
        LauncherParts(store: store, registry: registry ?? backend.registry(), environment: environment, options: options, logger: logger)
    }

    static func options(launchRetry: RetryPolicy? = nil, deliveryRetry: RetryPolicy? = nil, batchSize: Int = 100) -> UpdaterOptions {
        // A generous tick budget: a tick cut short by a loaded machine would change what the scenarios see.
        var options = UpdaterOptions(concurrency: 2, batchSize: batchSize, tickBudget: .seconds(120))
        if let launchRetry { options.launchRetry = launchRetry }
        if let deliveryRetry { options.deliveryRetry = deliveryRetry }
        return options
    }

    // MARK: Requests

    static func request(
        project: String = "contract", items: [JSONObject]? = nil, source: JSONObject? = nil,
        executor: JSONObject = [:], labels: [String] = [], watchers: JSONValue = []
    ) -> JSONValue {
        var executorConfig = executor
        executorConfig["name"] = "ContractExecutor"
        let sourceConfig: JSONObject = source ?? ["name": "ContractItems", "items": .array((items ?? []).map(JSONValue.object))]
        return [
            "project": .string(project), "labels": .array(labels.map(JSONValue.string)), "source": .object(sourceConfig),
            "executor": .object(executorConfig), "sink": ["name": "ContractSink"], "watchers": watchers,
        ]
    }

    /// Creates a workload through the service (as `wfl create`/`exec` do).
    func create(
        project: String = "contract", items: [JSONObject] = [], source: JSONObject? = nil, executor: JSONObject = [:],
        labels: [String] = [], watchers: JSONValue = [], start: Bool = true
    ) async throws -> WorkloadRecord {
        try await service.create(
            Self.request(project: project, items: items, source: source, executor: executor, labels: labels, watchers: watchers),
            start: start
        ).record
    }

    // MARK: Updates

    /// One update holding the lock; it must get the lock and must not fail.
    @discardableResult
    func tick(_ workload: WorkloadRecord, with parts: LauncherParts? = nil) async throws -> TickReport {
        guard let report = try await (parts ?? self.parts).updater.update(workloadID: workload.id, wait: .seconds(10)) else {
            throw ContractFailure("the workload's lock was not free")
        }
        return report
    }

    /// Updates (ignoring wake times) until the workload finishes.
    @discardableResult
    func runUntilFinished(_ workload: WorkloadRecord, maxTicks: Int = 20) async throws -> WorkloadRecord {
        for _ in 0..<maxTicks {
            let current = try await reload(workload)
            if current.finished != nil { return current }
            try await tick(workload)
        }
        let current = try await reload(workload)
        guard current.finished != nil else {
            throw ContractFailure("workload did not finish in \(maxTicks) updates; counts \(try await counts(workload))")
        }
        return current
    }

    /// The workload's queues, holding its lock.
    func queues<T: Sendable>(_ workload: WorkloadRecord, _ body: @escaping @Sendable (any WorkloadQueues) async throws -> T) async throws
        -> T
    {
        guard let result = try await store.withWorkloadLock(workloadID: workload.id, wait: .seconds(10), body) else {
            throw ContractFailure("the workload's lock was not free")
        }
        return result
    }

    // MARK: Reads

    func reload(_ workload: WorkloadRecord) async throws -> WorkloadRecord {
        try #require(try await store.workload(uuid: workload.uuid))
    }

    func counts(_ workload: WorkloadRecord) async throws -> [WorkflowStatus: Int] {
        try await store.statusCounts(workloadIDs: [workload.id])[workload.id] ?? [:]
    }

    /// Every workflow matching `filter`, all pages, in id order.
    func workflows(_ workload: WorkloadRecord, _ filter: WorkflowFilter = WorkflowFilter(), pageSize: Int = 1000) async throws
        -> [WorkflowRecord]
    {
        var result: [WorkflowRecord] = []
        var after: Int64?
        while true {
            let page = try await store.workflows(workloadID: workload.id, filter: filter, afterID: after, limit: pageSize)
            result += page
            guard page.count == pageSize, let last = page.last else { return result }
            after = last.id
        }
    }

    func workflow(_ workload: WorkloadRecord, _ uuid: UUID) async throws -> WorkflowRecord {
        try #require(try await workflows(workload, WorkflowFilter(uuids: [uuid], includeRetried: true)).first)
    }

    /// The workflow made from the item whose inputs have `"n": n`.
    func workflow(_ workload: WorkloadRecord, n: Int) async throws -> WorkflowRecord {
        let matching = try await workflows(workload).filter { $0.inputs["n"] == .int(Int64(n)) }
        guard matching.count == 1 else { throw ContractFailure("\(matching.count) newest workflows for item n=\(n)") }
        return matching[0]
    }

    func events(_ workload: WorkloadRecord) async throws -> [WorkloadEvent] {
        try await store.events(workloadID: workload.id, afterID: nil, limit: 10_000)
    }

    func due() async throws -> [Int64] {
        try await store.dueWorkloads(limit: 1000).map(\.id)
    }
}

/// `date` falls between two times this process read around the operation that set it, give or
/// take `slack` seconds for the store's clock; a loaded machine cannot make it flaky.
func between(_ date: Date?, _ earliest: Date, _ latest: Date, slack: TimeInterval = 2) -> Bool {
    guard let date else { return false }
    return date >= earliest.addingTimeInterval(-slack) && date <= latest.addingTimeInterval(slack)
}

extension JSONObject {
    /// An item's inputs: `n` and any script keys.
    static func item(_ n: Int, _ script: JSONObject = [:]) -> JSONObject {
        var inputs = script
        inputs["n"] = .int(Int64(n))
        return inputs
    }
}
