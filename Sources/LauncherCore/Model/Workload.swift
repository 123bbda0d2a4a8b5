import Foundation

/// A workload as stored: its request, its three stages' configurations and its lifecycle times.
/// The lifecycle is derived from the timestamps (as in WFL), never from a separate state column.
public struct WorkloadRecord: Sendable {
    public var id: Int64
    public var uuid: UUID
    public var project: String
    public var creator: String
    public var labels: [String]
    public var watchers: JSONValue
    public var sourceConfig: JSONObject
    public var executorConfig: JSONObject
    public var sinkConfig: JSONObject
    public var sourceState: JSONValue
    public var version: String
    public var created: Date
    public var started: Date?
    public var stopped: Date?
    public var aborted: Date?
    public var finished: Date?
    public var updated: Date?
    public var lastError: String?
    public var lastErrorAt: Date?
    public var errorCount: Int
    /// Set while the workload cannot be updated at all (see `LauncherStore.recordUpdateError`).
    public var quarantinedAt: Date?

    public init(
        id: Int64, uuid: UUID, project: String, creator: String, labels: [String], watchers: JSONValue,
        sourceConfig: JSONObject, executorConfig: JSONObject, sinkConfig: JSONObject, sourceState: JSONValue,
        version: String, created: Date, started: Date?, stopped: Date?, aborted: Date?, finished: Date?,
        updated: Date?, lastError: String?, lastErrorAt: Date?, errorCount: Int, quarantinedAt: Date? = nil
    ) {
        self.id = id
        self.uuid = uuid
        self.project = project
        self.creator = creator
        self.labels = labels
        self.watchers = watchers
        self.sourceConfig = sourceConfig
        self.executorConfig = executorConfig
        self.sinkConfig = sinkConfig
        self.sourceState = sourceState
        self.version = version
        self.created = created
        self.started = started
        self.stopped = stopped
        self.aborted = aborted
        self.finished = finished
        self.updated = updated
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
        self.errorCount = errorCount
        self.quarantinedAt = quarantinedAt
    }

    /// created → started → (stopped | aborted) → finished; retry can clear `finished`.
    public var state: String {
        if finished != nil { return aborted != nil ? "Aborted" : "Finished" }
        if aborted != nil { return "Aborting" }
        if stopped != nil { return "Stopped" }
        if started != nil { return "Running" }
        return "Created"
    }

    /// The workload as users see it: WFL's shape plus `project`, `state`, workflow counts and
    /// the last error.
    public func json(counts: [WorkflowStatus: Int]) -> JSONValue {
        var countJSON: JSONObject = [:]
        for status in WorkflowStatus.allCases { countJSON[status.rawValue] = .int(Int64(counts[status] ?? 0)) }
        countJSON["total"] = .int(Int64(counts.values.reduce(0, +)))
        var object: JSONObject = [
            "uuid": .string(uuid.uuidString.lowercased()),
            "project": .string(project),
            "creator": .string(creator),
            "version": .string(version),
            "labels": .array(labels.map(JSONValue.string)),
            "watchers": watchers,
            "source": .object(sourceConfig),
            "executor": .object(executorConfig),
            "sink": .object(sinkConfig),
            "state": .string(state),
            "created": Timestamp.json(created),
            "started": Timestamp.json(started),
            "stopped": Timestamp.json(stopped),
            "aborted": Timestamp.json(aborted),
            "finished": Timestamp.json(finished),
            "updated": Timestamp.json(updated),
            "workflows": .object(countJSON),
        ]
        if let lastError {
            object["lastError"] = .object(
                [
                    "message": .string(lastError), "at": Timestamp.json(lastErrorAt), "consecutive": .int(Int64(errorCount)),
                    "quarantined": quarantinedAt == nil ? .null : .bool(true),
                ].compacted)
        }
        if let quarantinedAt {
            object["quarantined"] = Timestamp.json(quarantinedAt)
        }
        return .object(object.compacted)
    }
}

/// A workload's lifecycle state, as `WorkloadRecord.state` derives it from its timestamps.
public enum WorkloadState: String, Sendable, CaseIterable {
    case created = "Created", running = "Running", stopped = "Stopped", aborting = "Aborting", aborted = "Aborted"
    case finished = "Finished"

    /// Any capitalisation of a state's name; a 400 naming `field` otherwise.
    public static func parse(_ text: String, field: String = "state") throws -> WorkloadState {
        guard let state = allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) else {
            throw LauncherError.invalid(
                field,
                "unknown state \"\(Constraint.excerpt(text, max: 40))\"; use one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return state
    }
}

/// The order of a workload listing. Each is a keyset order ending in the id, so a page far
/// down costs what the first costs and the cursor stays one workload's id.
public enum WorkloadOrder: String, Sendable, CaseIterable {
    /// Creation order (WFL's, the default).
    case oldest
    case newest
    /// By project name, then creation order.
    case project

    /// Any capitalisation of an order's name; a 400 naming `field` otherwise.
    public static func parse(_ text: String, field: String = "sort") throws -> WorkloadOrder {
        guard let order = WorkloadOrder(rawValue: text.lowercased()) else {
            throw LauncherError.invalid(
                field,
                "unknown order \"\(Constraint.excerpt(text, max: 40))\"; use one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return order
    }

    /// Whether `a` comes before `b` in this order.
    public func precedes(_ a: WorkloadRecord, _ b: WorkloadRecord) -> Bool {
        switch self {
        case .oldest: a.id < b.id
        case .newest: a.id > b.id
        case .project: (a.project, a.id) < (b.project, b.id)
        }
    }
}

/// Which workloads a listing selects (each filter given must match), and in what order.
public struct WorkloadFilter: Sendable, Equatable {
    public var project: String?
    public var state: WorkloadState?
    /// Workloads carrying this label (`team:imaging`).
    public var label: String?
    public var creator: String?
    public var order: WorkloadOrder

    public init(
        project: String? = nil, state: WorkloadState? = nil, label: String? = nil, creator: String? = nil, order: WorkloadOrder = .oldest
    ) {
        self.project = project
        self.state = state
        self.label = label
        self.creator = creator
        self.order = order
    }

    public func matches(_ record: WorkloadRecord) -> Bool {
        (project.map { $0 == record.project } ?? true) && (state.map { $0.rawValue == record.state } ?? true)
            && (label.map { record.labels.contains($0) } ?? true) && (creator.map { $0 == record.creator } ?? true)
    }
}

/// What the update loop needs to pick a workload up: nothing it would have to decode, so a
/// workload whose stored row is damaged is still picked up, and quarantined, on its own.
public struct WorkloadRef: Sendable {
    public var id: Int64
    public var uuid: UUID
    public var errorCount: Int

    public init(id: Int64, uuid: UUID, errorCount: Int) {
        self.id = id
        self.uuid = uuid
        self.errorCount = errorCount
    }
}

extension WorkloadRecord {
    public var ref: WorkloadRef { WorkloadRef(id: id, uuid: uuid, errorCount: errorCount) }
}

/// A validated request, ready to be written.
public struct NewWorkload: Sendable {
    public var uuid: UUID
    public var project: String
    public var creator: String
    public var labels: [String]
    public var watchers: JSONValue
    public var sourceConfig: JSONObject
    public var executorConfig: JSONObject
    public var sinkConfig: JSONObject
    public var version: String

    public init(
        uuid: UUID, project: String, creator: String, labels: [String], watchers: JSONValue,
        sourceConfig: JSONObject, executorConfig: JSONObject, sinkConfig: JSONObject, version: String
    ) {
        self.uuid = uuid
        self.project = project
        self.creator = creator
        self.labels = labels
        self.watchers = watchers
        self.sourceConfig = sourceConfig
        self.executorConfig = executorConfig
        self.sinkConfig = sinkConfig
        self.version = version
    }
}

public struct WorkloadEvent: Sendable {
    public var id: Int64
    public var at: Date
    public var kind: String
    public var message: String
    public var data: JSONValue
    /// Who made the request that caused it; nil for the update loop's own events.
    public var actor: String?

    public init(id: Int64, at: Date, kind: String, message: String, data: JSONValue, actor: String? = nil) {
        self.id = id
        self.at = at
        self.kind = kind
        self.message = message
        self.data = data
        self.actor = actor
    }

    public var json: JSONValue {
        .object(
            [
                "at": Timestamp.json(at), "kind": .string(kind), "message": .string(message), "data": data,
                "by": actor.map(JSONValue.string) ?? .null,
            ]
            .compacted)
    }
}

/// One page of a listing. `nextCursor` is opaque to callers; nil on the last page.
public struct Page<Element: Sendable>: Sendable {
    public var items: [Element]
    public var nextCursor: String?

    public init(items: [Element], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}
