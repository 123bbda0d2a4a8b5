import Foundation

/// Delivers the outputs of succeeded workflows (a folder, a workspace table, a dataset).
///
/// The launcher hands over a batch of succeeded, undelivered workflows and marks each consumed
/// only after the sink says it was delivered, so a crash can repeat a delivery but never lose
/// one: deliveries should be idempotent (overwrite, upsert).
public protocol Sink: Stage {
    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome]

    /// How deliveries this sink `started` are going (an ingest job); only those that changed.
    func checkDeliveries(_ deliveries: [PendingDelivery], context: StageContext) async throws -> [UUID: DeliveryOutcome]
}

extension Sink {
    public func checkDeliveries(_ deliveries: [PendingDelivery], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        [:]
    }
}

/// A delivery a sink started and has not finished.
public struct PendingDelivery: Sendable {
    public var uuid: UUID
    /// What the sink returned with `started` (e.g. its job id).
    public var handle: JSONObject
    public var started: Date

    public init(uuid: UUID, handle: JSONObject, started: Date) {
        self.uuid = uuid
        self.handle = handle
        self.started = started
    }
}

public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    /// A transient problem: try again later, with backoff, up to the launcher's limit.
    case retry(String)
    /// This workflow can never be delivered (e.g. its identifier is missing): set it aside
    /// with the error so the queue moves on.
    case rejected(String)
    /// Delivery started and finishes later (an ingest job); `checkDeliveries` reports how.
    case started(JSONObject)
}

/// A succeeded workflow, with everything a sink may deliver.
public struct DeliverableWorkflow: Sendable {
    public var uuid: UUID
    public var status: WorkflowStatus
    public var attempt: Int
    public var externalID: String?
    public var submission: String?
    public var inputs: JSONObject
    public var outputs: JSONObject
    public var details: JSONObject
    public var created: Date
    public var submitted: Date?
    public var finished: Date?

    public init(
        uuid: UUID, status: WorkflowStatus, attempt: Int, externalID: String?, submission: String?,
        inputs: JSONObject, outputs: JSONObject, details: JSONObject, created: Date, submitted: Date?, finished: Date?
    ) {
        self.uuid = uuid
        self.status = status
        self.attempt = attempt
        self.externalID = externalID
        self.submission = submission
        self.inputs = inputs
        self.outputs = outputs
        self.details = details
        self.created = created
        self.submitted = submitted
        self.finished = finished
    }
}
