import Foundation
import LauncherCore
import LauncherStages

/// Test-only stage types with the real request/response contract, to drive failure paths.
public enum TestStages {
    /// `.builtin` plus the test types below.
    public static var registry: StageRegistry {
        var registry = StageRegistry.builtin
        registry.register(executor: StageType(name: "Switchable", summary: "Mock whose backend can be switched off", fields: [
            ConfigField("backend", "string", required: true, "key into TestStages.backends"),
        ]) { reader in SwitchableExecutor(key: try reader.requiredString("backend")) })
        registry.register(executor: StageType(name: "Flaky", summary: "every launch fails transiently", fields: []) { _ in FlakyExecutor() })
        registry.register(sink: StageType(name: "Picky", summary: "rejects inputs with reject=true; retries retry=true", fields: []) { _ in PickySink() })
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
        lock.lock(); defer { lock.unlock() }
        if isDown { down.insert(key) } else { down.remove(key) }
    }

    func isDown(_ key: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return down.contains(key)
    }

    func countPoll(_ key: String) {
        lock.lock(); defer { lock.unlock() }
        polls[key, default: 0] += 1
    }

    public func pollCount(_ key: String) -> Int {
        lock.lock(); defer { lock.unlock() }
        return polls[key] ?? 0
    }
}

struct BackendDown: Error, CustomStringConvertible {
    var description: String { "connection refused (test backend is down)" }
}

/// Workflows run until the backend says `done` in their details; polls fail while it is down.
struct SwitchableExecutor: Executor {
    let key: String
    var config: JSONObject { ["name": "Switchable", "backend": .string(key)] }

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        if TestStages.backends.isDown(key) { throw BackendDown() }
        return Dictionary(uniqueKeysWithValues: workflows.map { ($0.uuid, .launched(Launched(externalID: "sw-\($0.uuid)", status: .running))) })
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
    var config: JSONObject { ["name": "Flaky"] }
    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        Dictionary(uniqueKeysWithValues: workflows.map { ($0.uuid, .deferred("HTTP 503 from the backend")) })
    }
    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult { PollResult(updates: []) }
    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] { [] }
}

struct PickySink: Sink {
    var config: JSONObject { ["name": "Picky"] }
    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        Dictionary(uniqueKeysWithValues: workflows.map { workflow in
            if workflow.inputs["reject"] == true { return (workflow.uuid, .rejected("identifier missing from outputs and inputs")) }
            if workflow.inputs["retry"] == true { return (workflow.uuid, .retry("HTTP 500 from the sink")) }
            return (workflow.uuid, .delivered)
        })
    }
}
