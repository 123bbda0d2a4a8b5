import Foundation

/// Produces items (one object of inputs each) into the workload's source queue.
///
/// Closed sources (`Items`, `TDR Snapshots`) know every item at create time; the launcher stores
/// them in the same transaction as the workload. Open sources (`Directory`, `Terra DataRepo`)
/// are polled each tick until the workload is stopped, and keep what they have seen in `state`.
public protocol Source: Stage {
    /// Items known at creation, stored with the workload in one transaction.
    func initialItems() -> [JSONValue]

    /// Whether the source may produce items after creation.
    var isOpen: Bool { get }

    /// New items since the last poll. Called each tick while the workload is started and not
    /// stopped. `state` is what the previous poll returned (`null` at first).
    func poll(_ context: StageContext, state: JSONValue) async throws -> SourcePoll

    /// The source will produce nothing more (the executor may still be draining its queue).
    func isDone(state: JSONValue, stopped: Bool) -> Bool
}

public struct SourcePoll: Sendable {
    public var items: [JSONValue]
    public var state: JSONValue
    /// When the source wants to be asked again (nil: next pass).
    public var nextPoll: Date?
    /// Something the operator should see (recorded as the workload's error) although the
    /// items and state above are kept: e.g. a snapshot job that keeps failing.
    public var problem: String?

    public init(items: [JSONValue] = [], state: JSONValue, nextPoll: Date? = nil, problem: String? = nil) {
        self.items = items
        self.state = state
        self.nextPoll = nextPoll
        self.problem = problem
    }
}

extension Source {
    public func initialItems() -> [JSONValue] { [] }
    public var isOpen: Bool { false }
    public func poll(_ context: StageContext, state: JSONValue) async throws -> SourcePoll {
        SourcePoll(state: state)
    }
    public func isDone(state: JSONValue, stopped: Bool) -> Bool { !isOpen || stopped }
}
