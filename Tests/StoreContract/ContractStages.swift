import Foundation
import LauncherCore
import Synchronization

// The contract's own stages: small, scriptable, and independent of the built-in ones (which
// live in another target). Each scenario gets its own `ContractBackend`, captured by the
// registry it builds, so scenarios running at once never see each other's switches.
//
// What an item's inputs ask for:
//   "launch": "defer"    the submit is deferred ("backend busy"), every time
//             "fail"     the submit fails ("refused by the backend")
//             "succeed"  launched straight to Succeeded, outputs {"result": n}
//             "expand"   expanded into `rows` Queued workflows without external ids
//             (absent)   launched as Running; `deferTimes` defers the first n submits
//   "finish": "fail"     the poll reports it Failed
//             "stay"     the poll never reports a change
//             (absent)   the poll reports it Succeeded, outputs {"out": externalID}
//   "deliver": "reject"  the sink rejects it (until the backend is healed)
//              "retry"   the sink asks to retry it (until the backend is healed)
//              "slow"    the sink starts a delivery that is done on the second check

/// What the contract's stages were asked, and the switches a scenario flips.
public final class ContractBackend: Sendable {
    struct State {
        var submits: [UUID: [LaunchRequest]] = [:]
        var aborted: [UUID] = []
        var delivered: [UUID: [DeliverableWorkflow]] = [:]
        var checkedDeliveries = 0
        var feed: [JSONValue] = []
        var sinkHealed = false
        var launchDown = false
        var pollDown = false
    }

    private let state = Mutex(State())

    public init() {}

    func with<T: Sendable>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }

    /// Every submit of one workflow, in order.
    public func submits(_ uuid: UUID) -> [LaunchRequest] { with { $0.submits[uuid] ?? [] } }
    public var allSubmits: [UUID: [LaunchRequest]] { with { $0.submits } }
    public var aborted: [UUID] { with { $0.aborted } }
    /// Deliveries the sink reported done, per workflow (what it was given each time).
    public func deliveries(_ uuid: UUID) -> [DeliverableWorkflow] { with { $0.delivered[uuid] ?? [] } }
    public var deliveredCount: Int { with { $0.delivered.values.map(\.count).reduce(0, +) } }

    /// Items the open source returns on its next poll.
    public func feed(_ items: [JSONObject]) { with { $0.feed += items.map(JSONValue.object) } }
    public var unpolled: Int { with { $0.feed.count } }
    /// From now on the sink delivers everything, rejected and retried items included.
    public func healSink() { with { $0.sinkHealed = true } }
    public func setLaunchDown(_ down: Bool) { with { $0.launchDown = down } }
    public func setPollDown(_ down: Bool) { with { $0.pollDown = down } }

    /// A registry of the contract stages, wired to this backend. `executor: false` leaves the
    /// executor out, so stored workloads that name it cannot be loaded (quarantine).
    public func registry(executor: Bool = true) -> StageRegistry {
        var registry = StageRegistry()
        registry.register(source: StageType(ContractItems.Config.self) { ContractItems(config: $0) })
        registry.register(source: StageType(ContractFeed.Config.self) { ContractFeed(config: $0, backend: self) })
        if executor {
            registry.register(executor: StageType(ContractExecutor.Config.self) { ContractExecutor(config: $0, backend: self) })
        }
        registry.register(sink: StageType(ContractSink.Config.self) { ContractSink(config: $0, backend: self) })
        return registry
    }
}

struct BackendDown: Error, CustomStringConvertible {
    var description: String { "connection refused (contract backend is down)" }
}

/// A fixed list of items, stored with the workload in its create transaction (as Items).
struct ContractItems: Source, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "ContractItems"
        static let summary = "A fixed list of items (store contract)"
        var items: [WorkflowInputs] = []
        var itemCount = 0
        static let fields: [Field<Config>] = [
            Field("items", \.items, .list(max: .max), required: true, presence: .requestOnly, "the items"),
            Field("itemCount", \.itemCount, presence: .storedOnly, "how many"),
        ]

        mutating func finish(at path: FieldPath, context: ConfigContext) throws {
            if context.origin == .request { itemCount = items.count }
        }
    }

    let config: Config

    func initialItems() -> [JSONValue] { config.items.map { .object($0.inputs) } }
}

/// An open source: each poll returns what the backend was fed since; its state counts them.
struct ContractFeed: Source, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "ContractFeed"
        static let summary = "Items fed by the scenario (store contract)"
        static let fields: [Field<Config>] = []
    }

    let config: Config
    let backend: ContractBackend

    var isOpen: Bool { true }

    func poll(_ context: StageContext, state: JSONValue) async throws -> SourcePoll {
        let items = backend.with { state -> [JSONValue] in
            defer { state.feed = [] }
            return state.feed
        }
        return SourcePoll(items: items, state: .int((state.intValue ?? 0) + Int64(items.count)))
    }
}

struct ContractExecutor: Executor, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "ContractExecutor"
        static let summary = "Scripted by its items' inputs (store contract)"
        var maxActive: Int?
        var pollAfter: Double?
        static let fields: [Field<Config>] = [
            Field("maxActive", \.maxActive, "most pending + active workflows"),
            Field("pollAfter", \.pollAfter, "seconds the poll says nothing changes for"),
        ]
    }

    let config: Config
    let backend: ContractBackend

    var maxActive: Int? { config.maxActive }

    func validateOverrides(_ overrides: JSONObject, at path: FieldPath) throws -> JSONObject { overrides }

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        let (down, counts) = backend.with { state -> (Bool, [UUID: Int]) in
            var counts: [UUID: Int] = [:]
            for request in workflows {
                state.submits[request.uuid, default: []].append(request)
                counts[request.uuid] = state.submits[request.uuid]!.count
            }
            return (state.launchDown, counts)
        }
        if down { throw BackendDown() }
        var outcomes: [UUID: SubmitOutcome] = [:]
        for request in workflows {
            let inputs = request.inputs
            let externalID = "ext-\(request.uuid.uuidString.lowercased())"
            switch inputs["launch"]?.stringValue {
            case "defer":
                outcomes[request.uuid] = .deferred("backend busy")
            case "fail":
                outcomes[request.uuid] = .failed(WorkflowError("refused by the backend"))
            case "succeed":
                outcomes[request.uuid] = .launched(
                    Launched(
                        externalID: externalID, status: .succeeded,
                        outputs: ["result": inputs["n"] ?? .null]))
            case "expand":
                let rows = Int(inputs["rows"]?.intValue ?? 0)
                outcomes[request.uuid] = .expanded(
                    Expansion(
                        submission: "exp-\(request.uuid.uuidString.prefix(8).lowercased())",
                        workflows: (0..<rows).map { row in
                            ExpandedWorkflow(status: .queued, inputs: ["row": .int(Int64(row))], details: ["entity": .string("e\(row)")])
                        }))
            default:
                if let times = inputs["deferTimes"]?.intValue, counts[request.uuid, default: 0] <= times {
                    outcomes[request.uuid] = .deferred("backend busy")
                } else {
                    outcomes[request.uuid] = .launched(
                        Launched(
                            externalID: externalID, status: .running,
                            details: ["finish": inputs["finish"] ?? "succeed", "launchedAs": .int(Int64(request.attempt))]))
                }
            }
        }
        return outcomes
    }

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        if backend.with({ $0.pollDown }) { throw BackendDown() }
        var updates: [WorkflowUpdate] = []
        for workflow in workflows {
            if workflow.status == .aborting {
                updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .aborted))
            } else if workflow.externalID == nil {
                // An expanded workflow: the backend assigns its id on a later poll.
                updates.append(
                    WorkflowUpdate(
                        uuid: workflow.uuid, status: .running,
                        externalID: "wf-\(workflow.uuid.uuidString.prefix(8).lowercased())"))
            } else {
                switch workflow.details["finish"]?.stringValue {
                case "stay":
                    break
                case "fail":
                    updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .failed, error: WorkflowError("the workflow failed")))
                default:
                    updates.append(
                        WorkflowUpdate(
                            uuid: workflow.uuid, status: .succeeded,
                            outputs: ["out": JSONValue(workflow.externalID)]))
                }
            }
        }
        return PollResult(updates: updates, nextPoll: config.pollAfter.map { Date().addingTimeInterval($0) })
    }

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        backend.with { $0.aborted += workflows.map(\.uuid) }
        return workflows.map { WorkflowUpdate(uuid: $0.uuid, status: .aborted) }
    }
}

struct ContractSink: Sink, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "ContractSink"
        static let summary = "Scripted by its workflows' inputs (store contract)"
        static let fields: [Field<Config>] = []
    }

    let config: Config
    let backend: ContractBackend

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        backend.with { state in
            var outcomes: [UUID: DeliveryOutcome] = [:]
            for workflow in workflows {
                switch workflow.inputs["deliver"]?.stringValue {
                case "reject" where !state.sinkHealed:
                    outcomes[workflow.uuid] = .rejected("no identifier to deliver under")
                case "retry" where !state.sinkHealed:
                    outcomes[workflow.uuid] = .retry("sink unavailable")
                case "slow":
                    outcomes[workflow.uuid] = .started(["job": .string("job-\(workflow.uuid.uuidString.prefix(8))"), "checks": 0])
                    state.delivered[workflow.uuid, default: []].append(workflow)
                default:
                    outcomes[workflow.uuid] = .delivered
                    state.delivered[workflow.uuid, default: []].append(workflow)
                }
            }
            return outcomes
        }
    }

    func checkDeliveries(_ deliveries: [PendingDelivery], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        backend.with { state in
            state.checkedDeliveries += 1
            var outcomes: [UUID: DeliveryOutcome] = [:]
            for delivery in deliveries {
                let checks = (delivery.handle["checks"]?.intValue ?? 0) + 1
                outcomes[delivery.uuid] =
                    checks >= 2 ? .delivered : .started(["job": delivery.handle["job"] ?? .null, "checks": .int(checks)])
            }
            return outcomes
        }
    }
}
