import Foundation

/// Launches one workflow per source item on a compute backend and tracks it to a final status.
///
/// The launcher calls an executor with batches, never one workflow at a time:
///
/// 1. `submit` — workflows the launcher has already recorded as `Pending`. Each carries the
///    launcher's uuid, which the backend must be given as a name, tag, label or comment: it is
///    the idempotency key. When `mayExist` is set, an earlier attempt may have reached the
///    backend before the launcher crashed; look the uuid up before launching again.
/// 2. `poll` — all active workflows of the workload, with as few backend calls as the backend
///    allows. Report only what changed. When the backend cannot answer, throw or leave the
///    workflow out: an unanswered question is "unknown, ask again", never a failure.
/// 3. `abort` — active workflows of an aborted workload.
public protocol Executor: Stage {
    /// Most workflows this workload may have pending or active at once (nil: no limit).
    var maxActive: Int? { get }

    /// Most workflows to launch in one tick (nil: the launcher's batch size).
    var maxSubmitPerTick: Int? { get }

    /// Checks one item's inputs against the configuration (e.g. fields a command template
    /// uses). Returns the problem, or nil. Run on every item known at create time.
    func checkInputs(_ inputs: JSONObject) -> String?

    /// Validates the `overrides` of a retry request (e.g. more memory, a longer timeout) and
    /// returns them normalised; they are recorded on the new attempts.
    func validateOverrides(_ overrides: JSONObject, at path: FieldPath) throws -> JSONObject

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome]

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult

    /// Aborts workflows at the backend. `Pending` ones are included when an earlier launch
    /// attempt may have reached the backend. Returns their new states (`Aborting` or `Aborted`).
    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate]

    /// Where the workflow's stdout or stderr is (`wfl logs`, the logs route). Default: nowhere.
    func logLocation(of workflow: ActiveWorkflow, stream: LogStream, context: StageContext) async throws -> WorkflowLogLocation
}

extension Executor {
    public var maxActive: Int? { nil }
    public var maxSubmitPerTick: Int? { nil }
    public func logLocation(of workflow: ActiveWorkflow, stream: LogStream, context: StageContext) async throws -> WorkflowLogLocation {
        .unavailable("the \(typeName) executor keeps no logs the launcher can read")
    }
    public func checkInputs(_ inputs: JSONObject) -> String? { nil }
    public func validateOverrides(_ overrides: JSONObject, at path: FieldPath) throws -> JSONObject {
        if let key = overrides.keys.min() {
            throw path.key(key).invalid("the \(typeName) executor takes no retry overrides")
        }
        return [:]
    }
}

/// A workflow the launcher has recorded as `Pending` and asks the executor to launch.
public struct LaunchRequest: Sendable {
    public var uuid: UUID
    public var inputs: JSONObject
    public var attempt: Int
    /// Resource overrides from a retry request, validated by `validateOverrides`.
    public var overrides: JSONObject
    /// The group of workflows the launcher launched together.
    public var submission: String?
    /// An earlier launch attempt may have reached the backend: look the uuid up first.
    public var mayExist: Bool

    public init(uuid: UUID, inputs: JSONObject, attempt: Int, overrides: JSONObject, submission: String?, mayExist: Bool) {
        self.uuid = uuid
        self.inputs = inputs
        self.attempt = attempt
        self.overrides = overrides
        self.submission = submission
        self.mayExist = mayExist
    }
}

public enum SubmitOutcome: Sendable {
    /// The backend accepted (or, for `mayExist`, already had) the workflow.
    case launched(Launched)
    /// The backend refused the workflow for a reason retrying will not fix (an unknown
    /// partition, a 4xx from a server): it is Failed with this error.
    case failed(WorkflowError)
    /// A transient problem (timeout, 5xx): the workflow stays Pending and is retried with
    /// backoff; after the launcher's limit it is Failed as an infrastructure error.
    case deferred(String)
    /// The backend turned the item into several workflows (a Terra submission runs one per
    /// row of a snapshot): the Pending workflow is replaced by these, in one statement.
    case expanded(Expansion)
}

public struct Expansion: Sendable {
    public var submission: String
    public var workflows: [ExpandedWorkflow]

    public init(submission: String, workflows: [ExpandedWorkflow]) {
        self.submission = submission
        self.workflows = workflows
    }
}

/// One workflow of an expansion; the backend may assign its id only later.
public struct ExpandedWorkflow: Sendable {
    public var externalID: String?
    public var status: WorkflowStatus
    public var inputs: JSONObject
    public var details: JSONObject

    public init(externalID: String? = nil, status: WorkflowStatus = .submitted, inputs: JSONObject, details: JSONObject = [:]) {
        self.externalID = externalID
        self.status = status
        self.inputs = inputs
        self.details = details
    }
}

public struct Launched: Sendable {
    public var externalID: String?
    public var submission: String?
    /// Usually `Submitted`; an executor that knows more (a mock, a job already found) may say so.
    public var status: WorkflowStatus
    public var outputs: JSONObject?
    public var details: JSONObject
    public var error: WorkflowError?

    public init(
        externalID: String?, submission: String? = nil, status: WorkflowStatus = .submitted,
        outputs: JSONObject? = nil, details: JSONObject = [:], error: WorkflowError? = nil
    ) {
        self.externalID = externalID
        self.submission = submission
        self.status = status
        self.outputs = outputs
        self.details = details
        self.error = error
    }
}

/// A workflow the backend knows about and that is not final yet.
public struct ActiveWorkflow: Sendable {
    public var uuid: UUID
    public var status: WorkflowStatus
    public var externalID: String?
    public var submission: String?
    public var attempt: Int
    public var overrides: JSONObject
    public var details: JSONObject
    public var submitted: Date?

    public init(
        uuid: UUID, status: WorkflowStatus, externalID: String?, submission: String?, attempt: Int,
        overrides: JSONObject, details: JSONObject, submitted: Date?
    ) {
        self.uuid = uuid
        self.status = status
        self.externalID = externalID
        self.submission = submission
        self.attempt = attempt
        self.overrides = overrides
        self.details = details
        self.submitted = submitted
    }
}

/// A change of one workflow's state, as an executor reports it.
public struct WorkflowUpdate: Sendable {
    public var uuid: UUID
    public var status: WorkflowStatus
    public var externalID: String?
    public var outputs: JSONObject?
    /// Merged into the workflow's stored backend details.
    public var details: JSONObject
    public var error: WorkflowError?

    public init(
        uuid: UUID, status: WorkflowStatus, externalID: String? = nil, outputs: JSONObject? = nil,
        details: JSONObject = [:], error: WorkflowError? = nil
    ) {
        self.uuid = uuid
        self.status = status
        self.externalID = externalID
        self.outputs = outputs
        self.details = details
        self.error = error
    }
}

public struct PollResult: Sendable {
    public var updates: [WorkflowUpdate]
    /// When nothing can change before this time (a mock's delay, a backend's poll interval).
    /// Nil: poll again on the next pass.
    public var nextPoll: Date?

    public init(updates: [WorkflowUpdate], nextPoll: Date? = nil) {
        self.updates = updates
        self.nextPoll = nextPoll
    }
}
