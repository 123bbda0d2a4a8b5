import Foundation

/// A whole listing, read page by page by id (keyset pagination), for the API's listings without
/// a `limit` (WFL returns everything): each page is read, handed on and dropped, so a listing
/// of millions costs the memory of one page and one indexed query per page.
public struct Listing<Element: Sendable>: Sendable {
    let fetch: @Sendable (_ afterID: Int64?, _ limit: Int) async throws -> [Element]
    let id: @Sendable (Element) -> Int64

    public static var pageSize: Int { 1000 }

    /// The first page, read before an answer begins, so that a failure (the database down)
    /// is still an error status rather than a cut-off listing.
    public func firstPage() async throws -> [Element] { try await fetch(nil, Self.pageSize) }

    /// Hands each page after `first` to `body`, in id order.
    public func forEachPage(after first: [Element], _ body: ([Element]) async throws -> Void) async throws {
        guard first.count == Self.pageSize, let last = first.last else { return }
        try await forEachPage(size: Self.pageSize, after: id(last), body)
    }

    /// Hands each page of at most `size` elements to `body`, in id order.
    public func forEachPage(size: Int = 1000, after start: Int64? = nil, _ body: ([Element]) async throws -> Void) async throws {
        var after = start
        while true {
            let page = try await fetch(after, size)
            if !page.isEmpty { try await body(page) }
            guard page.count == size, let last = page.last else { return }
            after = id(last)
        }
    }
}

extension WorkloadService {
    /// Every workload (of a project), checked now; read when iterated.
    public func allWorkloads(
        project: String?, state: String? = nil, label: String? = nil, creator: String? = nil, sort: String? = nil
    ) async throws -> Listing<WorkloadView> {
        try principal.require(.viewer, to: "read workloads")
        let filter = try Self.workloadFilter(project: project, state: state, label: label, creator: creator, sort: sort)
        let store = self.store
        return Listing(
            fetch: { after, limit in
                let records = try await store.workloads(filter: filter, afterID: after, limit: limit)
                let counts = try await store.statusCounts(workloadIDs: records.map(\.id))
                return records.map { WorkloadView(record: $0, counts: counts[$0.id] ?? [:]) }
            }, id: \.record.id)
    }

    /// Every workflow of the workload matching the filters; the workload and the filters are
    /// checked now, so a bad request fails before anything is sent.
    public func allWorkflows(_ uuid: UUID, status: String?, submission: String?, includeRetried: Bool) async throws -> Listing<
        WorkflowRecord
    > {
        try principal.require(.viewer, to: "read workflows")
        let (filter, matchesNothing) = try workflowFilter(status: status, submission: submission, includeRetried: includeRetried)
        let workload = try await find(uuid)
        let store = self.store
        return Listing(
            fetch: { after, limit in
                matchesNothing ? [] : try await store.workflows(workloadID: workload.id, filter: filter, afterID: after, limit: limit)
            }, id: \.id)
    }

    /// Every event of the workload.
    public func allEvents(_ uuid: UUID) async throws -> Listing<WorkloadEvent> {
        try principal.require(.viewer, to: "read events")
        let workload = try await find(uuid)
        let store = self.store
        return Listing(fetch: { after, limit in try await store.events(workloadID: workload.id, afterID: after, limit: limit) }, id: \.id)
    }

    /// The store filter a listing's `status`, `submission` and `includeRetried` mean, and
    /// whether it matches nothing (Cromwell's `On Hold`, which no backend here reports).
    func workflowFilter(status: String?, submission: String?, includeRetried: Bool) throws -> (WorkflowFilter, matchesNothing: Bool) {
        // Every submission id the launcher makes is a UUID, so anything else is a mistake (as in WFL).
        let submission = try submission.map { try RequestValidation.uuid($0, field: "submission").uuidString.lowercased() }
        var filter = WorkflowFilter(submission: submission, includeRetried: includeRetried)
        guard let status else { return (filter, false) }
        if status.lowercased() == "on hold" { return (filter, true) }
        guard let parsed = WorkflowStatus(userInput: status) else {
            throw LauncherError.invalid(
                "status",
                "unknown status \"\(Constraint.excerpt(status, max: 64))\"; known: \((WorkflowStatus.allCases.map(\.rawValue) + ["On Hold"]).joined(separator: ", "))"
            )
        }
        filter.statuses = [parsed]
        return (filter, false)
    }
}
