import Foundation

/// One workflow: the executor's queue entry and the permanent record of one launch attempt.
public struct WorkflowRecord: Sendable {
    public var id: Int64
    public var uuid: UUID
    public var status: WorkflowStatus
    public var attempt: Int
    public var externalID: String?
    public var submission: String?
    public var inputs: JSONObject
    public var outputs: JSONObject?
    public var details: JSONObject
    public var overrides: JSONObject
    public var error: WorkflowError?
    public var retryOf: UUID?
    public var retriedBy: UUID?
    public var created: Date
    public var submitted: Date?
    public var updated: Date
    public var finished: Date?
    public var consumed: Date?
    public var deliveryError: String?

    public init(
        id: Int64, uuid: UUID, status: WorkflowStatus, attempt: Int, externalID: String?, submission: String?,
        inputs: JSONObject, outputs: JSONObject?, details: JSONObject, overrides: JSONObject, error: WorkflowError?,
        retryOf: UUID?, retriedBy: UUID?, created: Date, submitted: Date?, updated: Date, finished: Date?,
        consumed: Date?, deliveryError: String?
    ) {
        self.id = id
        self.uuid = uuid
        self.status = status
        self.attempt = attempt
        self.externalID = externalID
        self.submission = submission
        self.inputs = inputs
        self.outputs = outputs
        self.details = details
        self.overrides = overrides
        self.error = error
        self.retryOf = retryOf
        self.retriedBy = retriedBy
        self.created = created
        self.submitted = submitted
        self.updated = updated
        self.finished = finished
        self.consumed = consumed
        self.deliveryError = deliveryError
    }

    public var json: JSONValue {
        var delivered: JSONValue = .null
        if status == .succeeded { delivered = .bool(consumed != nil && deliveryError == nil) }
        return .object(
            [
                "uuid": .string(uuid.uuidString.lowercased()),
                "status": .string(status.rawValue),
                "attempt": .int(Int64(attempt)),
                "externalId": JSONValue(externalID),
                "submission": JSONValue(submission),
                "inputs": .object(inputs),
                "outputs": outputs.map(JSONValue.object) ?? .null,
                "details": details.isEmpty ? .null : .object(details),
                "overrides": overrides.isEmpty ? .null : .object(overrides),
                "error": error?.json ?? .null,
                "retryOf": JSONValue(retryOf?.uuidString.lowercased()),
                "retriedBy": JSONValue(retriedBy?.uuidString.lowercased()),
                "created": Timestamp.json(created),
                "submitted": Timestamp.json(submitted),
                "updated": Timestamp.json(updated),
                "finished": Timestamp.json(finished),
                "delivered": delivered,
                "deliveryError": JSONValue(deliveryError),
            ].compacted)
    }
}

extension WorkflowRecord {
    /// What an executor needs of a workflow it launched.
    public var active: ActiveWorkflow {
        ActiveWorkflow(
            uuid: uuid, status: status, externalID: externalID, submission: submission, attempt: attempt,
            overrides: overrides, details: details, submitted: submitted)
    }
}

/// Which workflows a listing or a retry selects.
public struct WorkflowFilter: Sendable {
    public var statuses: [WorkflowStatus]
    public var submission: String?
    public var uuids: [UUID]
    /// Include attempts that were retried (hidden by default: the newest attempt stands for them).
    public var includeRetried: Bool

    public init(statuses: [WorkflowStatus] = [], submission: String? = nil, uuids: [UUID] = [], includeRetried: Bool = false) {
        self.statuses = statuses
        self.submission = submission
        self.uuids = uuids
        self.includeRetried = includeRetried
    }
}
