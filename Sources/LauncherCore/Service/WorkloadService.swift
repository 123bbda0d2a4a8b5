import Foundation
import Logging

/// Every operation on workloads. The HTTP API and the CLI both call this and add no rules of
/// their own: validation, lifecycle transitions, retry semantics and who may do what live here.
///
/// A service acts for one principal (`acting(as:)`): the HTTP API makes one per request from
/// the caller's credentials, the CLI acts as the local user (an admin: it holds the database's
/// credentials). Every change it makes is checked against the principal's role and recorded
/// with its name.
public final class WorkloadService: Sendable {
    public let store: any LauncherStore
    public let registry: StageRegistry
    public let environment: LauncherEnvironment
    public let updater: Updater
    public let principal: Principal
    public let access: AccessPolicy
    let logger: Logger

    public static let defaultPageSize = 100
    public static let maxPageSize = 1000

    public init(
        store: any LauncherStore, registry: StageRegistry, environment: LauncherEnvironment,
        updater: Updater, logger: Logger, principal: Principal = .anonymous, access: AccessPolicy? = nil
    ) {
        self.store = store
        self.registry = registry
        self.environment = environment
        self.updater = updater
        self.logger = logger
        self.principal = principal
        self.access = access ?? AccessPolicy(settings: environment.settings)
    }

    /// The same service acting for `principal`.
    public func acting(as principal: Principal) -> WorkloadService {
        WorkloadService(
            store: store, registry: registry, environment: environment, updater: updater, logger: logger, principal: principal,
            access: access)
    }

    /// A workload with its workflow counts.
    public struct WorkloadView: Sendable {
        public var record: WorkloadRecord
        public var counts: [WorkflowStatus: Int]
        public var json: JSONValue { record.json(counts: counts) }
    }

    // MARK: Create

    /// Validates a workload request completely (stage configurations, every initial item,
    /// remote checks), then writes it in one transaction. `start` is `exec`. Relative paths
    /// in stage configurations are resolved against `relativeTo` (the local CLI's working
    /// folder) and refused without it. The workload's creator is the principal.
    public func create(_ request: JSONValue, start: Bool, relativeTo base: String? = nil) async throws -> WorkloadView {
        try principal.require(.operator, to: start ? "exec workloads" : "create workloads")
        guard case .object(let object) = request else {
            throw LauncherError(
                .badRequest, "a workload request must be a JSON object, got \(request.typeName)",
                details: ["field": ""])
        }
        let context = environment.requestContext(relativeTo: base)
        let workload = try WorkloadRequest.decode(object, at: "", context: context, what: "a workload request")
        // Before any stage is built: a caller who may not use the executor learns nothing more.
        if let name = workload.executor.objectValue?["name"]?.stringValue {
            let needed = access.roleNeeded(forExecutor: name)
            try principal.require(needed, to: "create workloads with the \(Constraint.excerpt(name, max: 64)) executor")
        }
        let source = try registry.makeSource(workload.source, context: context)
        let executor = try registry.makeExecutor(workload.executor, context: context)
        let sink = try registry.makeSink(workload.sink, context: context)

        let items = source.initialItems()
        for (index, item) in items.enumerated() {
            guard case .object(let inputs) = item else {
                throw LauncherError.invalid("source.items[\(index)]", "expected an object of inputs, got \(item.typeName)")
            }
            if let problem = executor.checkInputs(inputs) {
                throw LauncherError.invalid("source.items[\(index)]", problem)
            }
        }

        let uuid = UUID()
        let stageContext = StageContext(workloadUUID: uuid, project: workload.project, logger: logger, environment: environment)
        let sourceConfig = try await source.validatedConfig(stageContext)
        let executorConfig = try await executor.validatedConfig(stageContext)
        let sinkConfig = try await sink.validatedConfig(stageContext)

        let new = NewWorkload(
            uuid: uuid, project: workload.project, creator: principal.name, labels: workload.normalisedLabels,
            watchers: .array(workload.watchers.map(\.configJSON)),
            sourceConfig: sourceConfig, executorConfig: executorConfig, sinkConfig: sinkConfig,
            version: environment.version)
        let record = try await store.createWorkload(new, items: items, start: start)
        logger.info("created workload", metadata: ["workload": "\(record.uuid)", "items": "\(items.count)", "started": "\(start)"])
        return WorkloadView(record: record, counts: [:])
    }

    // MARK: Lifecycle

    public func start(_ uuid: UUID) async throws -> WorkloadView {
        try principal.require(.operator, to: "start workloads")
        let workload = try await find(uuid)
        return try await view(store.start(workloadID: workload.id, by: principal.name))
    }

    public func stop(_ uuid: UUID) async throws -> WorkloadView {
        try principal.require(.operator, to: "stop workloads")
        let workload = try await find(uuid)
        guard workload.started != nil else {
            throw LauncherError(
                .badRequest, "Cannot stop workload before it's been started.",
                details: ["uuid": .string(uuid.uuidString.lowercased())])
        }
        return try await view(store.stop(workloadID: workload.id, by: principal.name))
    }

    /// Stops the workload and aborts its active workflows at the backend. The abort runs now
    /// when the workload's update lock comes free within a few seconds, else on the updater's
    /// next pass; either way no new workflow is launched from here on.
    public func abort(_ uuid: UUID) async throws -> WorkloadView {
        try principal.require(.operator, to: "abort workloads")
        let workload = try await find(uuid)
        guard workload.started != nil else {
            throw LauncherError(
                .badRequest, "Cannot abort workload before it's been started.",
                details: ["uuid": .string(uuid.uuidString.lowercased())])
        }
        let marked = try await store.markAborted(workloadID: workload.id, by: principal.name)
        if marked.finished == nil {
            do {
                _ = try await updater.update(workloadID: workload.id, wait: .seconds(5))
            } catch {
                logger.warning("abort will complete on the next update pass", metadata: ["workload": "\(uuid)", "error": "\(error)"])
            }
        }
        return try await view(find(uuid))
    }

    // MARK: Queries

    public func workload(_ uuid: UUID) async throws -> WorkloadView {
        try principal.require(.viewer, to: "read workloads")
        return try await view(find(uuid))
    }

    public func workloads(
        project: String?, state: String? = nil, label: String? = nil, creator: String? = nil, sort: String? = nil, cursor: String?,
        limit: Int?
    ) async throws -> Page<WorkloadView> {
        try principal.require(.viewer, to: "read workloads")
        let filter = try Self.workloadFilter(project: project, state: state, label: label, creator: creator, sort: sort)
        let after = try Cursor.decode(cursor, kind: "workload")
        let limit = try pageSize(limit)
        let records = try await store.workloads(filter: filter, afterID: after, limit: limit + 1)
        let page = Array(records.prefix(limit))
        let counts = try await store.statusCounts(workloadIDs: page.map(\.id))
        let next = records.count > limit ? page.last.map { Cursor.encode($0.id, kind: "workload") } : nil
        return Page(items: page.map { WorkloadView(record: $0, counts: counts[$0.id] ?? [:]) }, nextCursor: next)
    }

    public func workflows(
        _ uuid: UUID, status: String?, submission: String?, includeRetried: Bool,
        cursor: String?, limit: Int?
    ) async throws -> Page<WorkflowRecord> {
        try principal.require(.viewer, to: "read workflows")
        let (filter, matchesNothing) = try workflowFilter(status: status, submission: submission, includeRetried: includeRetried)
        let after = try Cursor.decode(cursor, kind: "workflow")
        let limit = try pageSize(limit)
        let workload = try await find(uuid)
        if matchesNothing { return Page(items: [], nextCursor: nil) }
        let rows = try await store.workflows(workloadID: workload.id, filter: filter, afterID: after, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        let next = rows.count > limit ? page.last.map { Cursor.encode($0.id, kind: "workflow") } : nil
        return Page(items: page, nextCursor: next)
    }

    public func events(_ uuid: UUID, cursor: String?, limit: Int?) async throws -> Page<WorkloadEvent> {
        try principal.require(.viewer, to: "read events")
        let after = try Cursor.decode(cursor, kind: "event")
        let limit = try pageSize(limit)
        let workload = try await find(uuid)
        let rows = try await store.events(workloadID: workload.id, afterID: after, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        let next = rows.count > limit ? page.last.map { Cursor.encode($0.id, kind: "event") } : nil
        return Page(items: page, nextCursor: next)
    }

    public func stages() throws -> [JSONValue] {
        try principal.require(.viewer, to: "read the stage catalog")
        return registry.catalog
    }

    // MARK: Retry

    /// Relaunches the final workflows matching `{"status"?, "submission"?, "uuids"?, "overrides"?}`
    /// as new workflows linked to the originals. Returns the new workflows.
    public func retry(_ uuid: UUID, request: JSONValue) async throws -> [WorkflowRecord] {
        try principal.require(.operator, to: "retry workflows")
        guard case .object(let object) = request else {
            throw LauncherError(.badRequest, "a retry request must be a JSON object, got \(request.typeName)", details: ["field": ""])
        }
        let retry = try RetryRequest.decode(object, at: "", context: .request, what: "a retry request")
        var filter = WorkflowFilter()
        if let status = retry.status {
            guard let parsed = WorkflowStatus(userInput: status), parsed.isFinal else {
                throw LauncherError.invalid(
                    "status",
                    "Retry unsupported for requested workflow status \"\(Constraint.excerpt(status))\"; retry accepts \(WorkflowStatus.final.map(\.rawValue).joined(separator: ", "))",
                    ["supported": .array(WorkflowStatus.final.map { .string($0.rawValue) })])
            }
            filter.statuses = [parsed]
        }
        filter.submission = retry.submission?.uuidString.lowercased()
        filter.uuids = retry.uuids ?? []
        guard !filter.statuses.isEmpty || filter.submission != nil || !filter.uuids.isEmpty else {
            throw LauncherError(
                .badRequest, "Cannot retry workload: give at least one filter: status, submission or uuids.",
                details: ["field": "status"])
        }

        let workload = try await find(uuid)
        guard workload.started != nil else {
            throw LauncherError(
                .badRequest, "Cannot retry workload before it's been started.",
                details: ["uuid": .string(uuid.uuidString.lowercased())])
        }
        let executor = try registry.makeExecutor(.object(workload.executorConfig), context: environment.storedContext)
        let overrides = try retry.overrides.map { try executor.validateOverrides($0, at: "overrides") } ?? [:]

        if !filter.uuids.isEmpty {
            // Name the uuids that cannot be retried rather than silently skipping them.
            let found = try await store.workflows(
                workloadID: workload.id, filter: WorkflowFilter(uuids: filter.uuids, includeRetried: true),
                afterID: nil, limit: filter.uuids.count + 1)
            let byUUID = Dictionary(found.map { ($0.uuid, $0) }, uniquingKeysWith: { a, _ in a })
            for (index, id) in filter.uuids.enumerated() {
                guard let workflow = byUUID[id] else {
                    throw LauncherError.invalid("uuids[\(index)]", "no workflow \(id.uuidString.lowercased()) in this workload")
                }
                if !workflow.status.isFinal {
                    throw LauncherError.invalid(
                        "uuids[\(index)]",
                        "workflow \(id.uuidString.lowercased()) is \(workflow.status.rawValue); only final workflows can be retried")
                }
                if let newer = workflow.retriedBy {
                    throw LauncherError.invalid(
                        "uuids[\(index)]", "workflow \(id.uuidString.lowercased()) was already retried as \(newer.uuidString.lowercased())")
                }
            }
        }

        let created = try await store.retry(workloadID: workload.id, filter: filter, overrides: overrides, by: principal.name)
        guard !created.isEmpty else {
            throw LauncherError(
                .badRequest, "No workflows to retry for workload and requested workflow filters.",
                details: [
                    "field": filter.statuses.isEmpty ? (filter.submission != nil ? "submission" : "uuids") : "status",
                    "filters": .object(object.filter { $0.key != "overrides" }),
                ])
        }
        logger.info("retried workflows", metadata: ["workload": "\(uuid)", "count": "\(created.count)"])
        return created
    }

    // MARK: Redeliver

    /// Puts set-aside deliveries (succeeded workflows whose delivery was given up) back in the
    /// sink's queue with a fresh attempt budget: all of them, or `{"uuids": […]}`. Reopens a
    /// finished workload. Returns the workload.
    public func redeliver(_ uuid: UUID, request: JSONValue) async throws -> WorkloadView {
        try principal.require(.operator, to: "redeliver workflows")
        guard case .object(let object) = request else {
            throw LauncherError(.badRequest, "a redeliver request must be a JSON object, got \(request.typeName)", details: ["field": ""])
        }
        let redeliver = try RedeliverRequest.decode(object, at: "", context: .request, what: "a redeliver request")
        let workload = try await find(uuid)
        let count = try await store.redeliver(workloadID: workload.id, uuids: redeliver.uuids, by: principal.name)
        guard count > 0 else {
            throw LauncherError(
                .badRequest,
                redeliver.uuids == nil
                    ? "No set-aside deliveries to redeliver: every succeeded workflow was delivered or is still in the sink's queue."
                    : "None of these workflows has a set-aside delivery.",
                details: ["field": redeliver.uuids == nil ? "" : "uuids"])
        }
        logger.info("redelivering", metadata: ["workload": "\(uuid)", "count": "\(count)"])
        return try await view(find(uuid))
    }

    // MARK: Helpers

    public func find(_ uuid: UUID) async throws -> WorkloadRecord {
        guard let workload = try await store.workload(uuid: uuid) else {
            throw LauncherError.notFound(
                "No workload found matching uuid \(uuid.uuidString.lowercased())",
                ["uuid": .string(uuid.uuidString.lowercased())])
        }
        return workload
    }

    func view(_ record: WorkloadRecord) async throws -> WorkloadView {
        let counts = try await store.statusCounts(workloadIDs: [record.id])
        return WorkloadView(record: record, counts: counts[record.id] ?? [:])
    }

    func pageSize(_ limit: Int?) throws -> Int {
        guard let limit else { return Self.defaultPageSize }
        guard (1...Self.maxPageSize).contains(limit) else {
            throw LauncherError.invalid("limit", "must be between 1 and \(Self.maxPageSize), got \(limit)")
        }
        return limit
    }

    /// The filters of a workload listing, each checked and named when wrong.
    public static func workloadFilter(
        project: String?, state: String?, label: String?, creator: String?, sort: String? = nil
    ) throws -> WorkloadFilter {
        for (name, value) in [("project", project), ("label", label), ("creator", creator)] {
            if let value { try Constraint.text(max: Limits.shortText).checkText(value, at: FieldPath(name)) }
        }
        return WorkloadFilter(
            project: project, state: try state.map { try WorkloadState.parse($0) }, label: label, creator: creator,
            order: try sort.map { try WorkloadOrder.parse($0) } ?? .oldest)
    }

    public static func parseUUID(_ text: String, field: String = "uuid") throws -> UUID {
        try RequestValidation.uuid(text, field: field)
    }
}
