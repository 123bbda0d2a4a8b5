import Foundation
import LauncherCore
import LauncherStages

/// Test-only stage types with the real request/response contract, to drive failure paths.
public enum TestStages {
    /// `.builtin` plus the test types below.
    public static var registry: StageRegistry {
        var registry = StageRegistry.builtin
        registry.register(executor: StageType(SwitchableExecutor.Config.self) { SwitchableExecutor(config: $0) })
        registry.register(executor: StageType(FlakyExecutor.Config.self) { _ in FlakyExecutor() })
        registry.register(sink: StageType(PickySink.Config.self) { _ in PickySink() })
        registry.register(executor: StageType(ExpandingExecutor.Config.self) { _ in ExpandingExecutor() })
        registry.register(sink: StageType(SlowSink.Config.self) { _ in SlowSink() })
        registry.register(sink: StageType(HealingSink.Config.self) { _ in HealingSink() })
        return registry
    }

    /// Shared switches the test flips while the updater runs.
    public static let backends = Backends()
}

public final class Backends: @unchecked Sendable {
    private let lock = NSLock()
    private var down: Set<String> = []
    private var polls: [String: Int] = [:]

    public func setDown(_ key: String, _ isDown: Bool) {
        lock.lock()
        defer { lock.unlock() }
        if isDown { down.insert(key) } else { down.remove(key) }
    }

    func isDown(_ key: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return down.contains(key)
    }

    func countPoll(_ key: String) {
        lock.lock()
        defer { lock.unlock() }
        polls[key, default: 0] += 1
    }

    public func pollCount(_ key: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return polls[key] ?? 0
    }
}

struct BackendDown: Error, CustomStringConvertible {
    var description: String { "connection refused (test backend is down)" }
}

/// Workflows run until the backend says `done` in their details; polls fail while it is down.
struct SwitchableExecutor: Executor, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Switchable"
        static let summary = "Mock whose backend can be switched off"
        var backend = ""
        static let fields: [Field<Config>] = [Field("backend", \.backend, required: true, "key into TestStages.backends")]
    }
    let config: Config
    var key: String { config.backend }

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        if TestStages.backends.isDown(key) { throw BackendDown() }
        return Dictionary(
            uniqueKeysWithValues: workflows.map { ($0.uuid, .launched(Launched(externalID: "sw-\($0.uuid)", status: .running))) })
    }

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        TestStages.backends.countPoll(key)
        if TestStages.backends.isDown(key) { throw BackendDown() }
        return PollResult(updates: workflows.map { WorkflowUpdate(uuid: $0.uuid, status: .succeeded, outputs: ["ok": true]) })
    }

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        workflows.map { WorkflowUpdate(uuid: $0.uuid, status: .aborted) }
    }
}

struct FlakyExecutor: Executor {
    struct Config: StageConfig {
        static let stageName = "Flaky"
        static let summary = "every launch fails transiently"
        static let fields: [Field<Config>] = []
    }
    var storedConfig: JSONObject { Config().stored }
    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        Dictionary(uniqueKeysWithValues: workflows.map { ($0.uuid, .deferred("HTTP 503 from the backend")) })
    }
    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult { PollResult(updates: []) }
    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] { [] }
}

struct PickySink: Sink {
    struct Config: StageConfig {
        static let stageName = "Picky"
        static let summary = "rejects inputs with reject=true; retries retry=true"
        static let fields: [Field<Config>] = []
    }
    var storedConfig: JSONObject { Config().stored }
    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        Dictionary(
            uniqueKeysWithValues: workflows.map { workflow in
                if workflow.inputs["reject"] == true { return (workflow.uuid, .rejected("identifier missing from outputs and inputs")) }
                if workflow.inputs["retry"] == true { return (workflow.uuid, .retry("HTTP 500 from the sink")) }
                return (workflow.uuid, .delivered)
            })
    }
}

/// Like a Terra submission: an item {rows: N} becomes N workflows of one submission, whose
/// ids the backend assigns only on a later poll.
struct ExpandingExecutor: Executor {
    struct Config: StageConfig {
        static let stageName = "Expanding"
        static let summary = "each item {rows: N} runs N workflows"
        static let fields: [Field<Config>] = []
    }
    var storedConfig: JSONObject { Config().stored }

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        Dictionary(
            uniqueKeysWithValues: workflows.map { request in
                let rows = Int(request.inputs["rows"]?.intValue ?? 0)
                let expansion = Expansion(
                    submission: "sub-\(request.uuid.uuidString.prefix(8))",
                    workflows: (0..<rows).map { row in
                        ExpandedWorkflow(
                            status: .queued, inputs: ["row": .int(Int64(row)), "rows": .int(Int64(rows))],
                            details: ["entity": .string("e\(row)")])
                    })
                return (request.uuid, SubmitOutcome.expanded(expansion))
            })
    }

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        PollResult(
            updates: workflows.map { workflow in
                workflow.externalID == nil
                    ? WorkflowUpdate(uuid: workflow.uuid, status: .running, externalID: "wf-\(workflow.uuid.uuidString.prefix(8))")
                    : WorkflowUpdate(uuid: workflow.uuid, status: .succeeded, outputs: ["entity": workflow.details["entity"] ?? .null])
            })
    }

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        workflows.map { WorkflowUpdate(uuid: $0.uuid, status: .aborted) }
    }
}

/// Like an ingest job: a delivery starts, and the sink reports it done on the second check.
struct SlowSink: Sink {
    struct Config: StageConfig {
        static let stageName = "Slow"
        static let summary = "deliveries finish on the second check"
        static let fields: [Field<Config>] = []
    }
    var storedConfig: JSONObject { Config().stored }

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        Dictionary(
            uniqueKeysWithValues: workflows.map {
                ($0.uuid, DeliveryOutcome.started(["job": .string("job-\($0.uuid.uuidString.prefix(8))"), "checks": 0]))
            })
    }

    func checkDeliveries(_ deliveries: [PendingDelivery], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        var outcomes: [UUID: DeliveryOutcome] = [:]
        for delivery in deliveries {
            let checks = (delivery.handle["checks"]?.intValue ?? 0) + 1
            outcomes[delivery.uuid] = checks >= 2 ? .delivered : .started(["job": delivery.handle["job"] ?? .null, "checks": .int(checks)])
        }
        return outcomes
    }
}

/// A sink that fails each workflow's first two deliveries (a service that hiccups), then
/// delivers it.
struct HealingSink: Sink {
    struct Config: StageConfig {
        static let stageName = "Healing"
        static let summary = "fails each delivery twice, then delivers"
        static let fields: [Field<Config>] = []
    }
    var storedConfig: JSONObject { Config().stored }

    static let attempts = Attempts()

    final class Attempts: @unchecked Sendable {
        private let lock = NSLock()
        private var counts: [UUID: Int] = [:]
        func next(_ uuid: UUID) -> Int {
            lock.lock()
            defer { lock.unlock() }
            counts[uuid, default: 0] += 1
            return counts[uuid]!
        }
    }

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        Dictionary(
            uniqueKeysWithValues: workflows.map { workflow in
                (workflow.uuid, Self.attempts.next(workflow.uuid) <= 2 ? DeliveryOutcome.retry("HTTP 503 from the sink") : .delivered)
            })
    }
}
