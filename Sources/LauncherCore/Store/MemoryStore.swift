import Foundation
import Synchronization

/// `LauncherStore` in memory, for a fast core test tier.
///
/// It follows the PostgreSQL store's contract rule for rule: every status change is
/// conditional on the status read, retries are new attempts linked to the originals (which
/// default listings and counts hide), `markAborted` turns unclaimed items into Aborted
/// workflows, launches and deliveries back off with the same `RetryPolicy` arithmetic and give
/// up with the same messages. The scenarios in `Tests/StoreContract` run against both stores,
/// so the core's rules can be tested here in milliseconds and are known to hold over
/// PostgreSQL too.
///
/// All state sits behind one lock and every method is one critical section, which stands for
/// PostgreSQL's transactions. Nothing is durable, and the workload lock excludes updaters of
/// this process only: it is a test double, not a deployment option.
public final class MemoryStore: LauncherStore {
    private let state = Mutex(State())

    public init() {}

    /// One critical section over all the store's state (a transaction).
    fileprivate func locked<T: Sendable>(_ body: (inout State) throws -> T) throws -> T {
        try state.withLock { state throws -> T in try body(&state) }
    }

    public func ping() async throws {}

    // MARK: Workloads

    public func createWorkload(_ w: NewWorkload, items: [JSONValue], start: Bool) async throws -> WorkloadRecord {
        try locked { state in
            guard state.byUUID[w.uuid] == nil else {
                throw LauncherError(.internalError, "database error: duplicate key value violates unique constraint \"workload_uuid_key\"")
            }
            let now = Date()
            state.lastWorkloadID += 1
            let id = state.lastWorkloadID
            let record = WorkloadRecord(
                id: id, uuid: w.uuid, project: w.project, creator: w.creator, labels: w.labels, watchers: w.watchers,
                sourceConfig: w.sourceConfig, executorConfig: w.executorConfig, sinkConfig: w.sinkConfig, sourceState: .null,
                version: w.version, created: now, started: start ? now : nil, stopped: nil, aborted: nil, finished: nil,
                updated: now, lastError: nil, lastErrorAt: nil, errorCount: 0, quarantinedAt: nil)
            state.workloads[id] = WorkloadData(record: record, wakeAt: start ? now : nil)
            state.order.append(id)
            state.byUUID[w.uuid] = id
            state.insertItems(id, items, now: now)
            state.addEvent(
                id, kind: "created", message: "Workload created with \(items.count) item(s)",
                data: ["creator": .string(w.creator)], now: now, actor: w.creator)
            if start { state.addEvent(id, kind: "started", message: "Workload started", data: .null, now: now, actor: w.creator) }
            return record
        }
    }

    public func workload(uuid: UUID) async throws -> WorkloadRecord? {
        try locked { state in state.byUUID[uuid].flatMap { state.workloads[$0]?.record } }
    }

    public func workloads(filter: WorkloadFilter, afterID: Int64?, limit: Int) async throws -> [WorkloadRecord] {
        try locked { state in
            if filter.order == .oldest {
                var result: [WorkloadRecord] = []
                for id in state.order where id > (afterID ?? Int64.min) {
                    guard result.count < limit else { break }
                    guard let record = state.workloads[id]?.record else { continue }
                    if !filter.matches(record) { continue }
                    result.append(record)
                }
                return result
            }
            // Other orders: sorted in full (a test double; PostgreSQL walks an index).
            let after = afterID.flatMap { state.workloads[$0]?.record }
            let sorted = state.workloads.values.map(\.record).filter(filter.matches).sorted(by: filter.order.precedes)
            return Array(sorted.filter { record in after.map { filter.order.precedes($0, record) } ?? true }.prefix(limit))
        }
    }

    public func troubleCounts() async throws -> (quarantined: Int, backingOff: Int) {
        try locked { state in
            let open = state.workloads.values.map(\.record).filter { $0.started != nil && $0.finished == nil }
            return (open.filter { $0.quarantinedAt != nil }.count, open.filter { $0.errorCount > 0 }.count)
        }
    }

    public func statusCounts(workloadIDs: [Int64]) async throws -> [Int64: [WorkflowStatus: Int]] {
        try locked { state in
            var counts: [Int64: [WorkflowStatus: Int]] = [:]
            for id in Set(workloadIDs) {
                guard let data = state.workloads[id] else { continue }
                for row in data.rows where row.retriedBy == nil { counts[id, default: [:]][row.status, default: 0] += 1 }
            }
            return counts
        }
    }

    public func start(workloadID: Int64, by actor: String) async throws -> WorkloadRecord {
        try locked { state in
            let now = Date()
            let changed = try state.withWorkload(workloadID) { data -> Bool in
                guard data.record.started == nil else { return false }
                data.record.started = now
                data.record.updated = now
                data.wakeAt = now
                return true
            }
            if changed {
                state.addEvent(workloadID, kind: "started", message: "Workload started", data: .null, now: now, actor: actor)
            }
            return try state.record(workloadID)
        }
    }

    public func stop(workloadID: Int64, by actor: String) async throws -> WorkloadRecord {
        try locked { state in
            let now = Date()
            let changed = try state.withWorkload(workloadID) { data -> Bool in
                guard data.record.started != nil, data.record.stopped == nil, data.record.finished == nil else { return false }
                data.record.stopped = now
                data.record.updated = now
                data.wakeAt = now
                return true
            }
            if changed {
                state.addEvent(
                    workloadID, kind: "stopped", message: "Workload stopped: the source takes no new items",
                    data: .null, now: now, actor: actor)
            }
            return try state.record(workloadID)
        }
    }

    public func markAborted(workloadID: Int64, by actor: String) async throws -> WorkloadRecord {
        try locked { state in
            let now = Date()
            let current = try state.record(workloadID)
            guard current.finished == nil else { return current }
            try state.withWorkload(workloadID) { data in
                data.record.aborted = data.record.aborted ?? now
                data.record.stopped = data.record.stopped ?? now
                data.record.updated = now
                data.wakeAt = now
            }
            let unclaimed = state.abortUnclaimed(workloadID, now: now)
            var unlaunched = 0, toAbort = 0
            try state.withWorkload(workloadID) { data in
                for i in data.workflows.indices {
                    guard var row = data.workflows[i], row.status == .pending, row.launchAttempts == 0 else { continue }
                    row.status = .aborted
                    row.finished = now
                    row.updated = now
                    data.workflows[i] = row
                    unlaunched += 1
                }
                for i in data.workflows.indices {
                    guard var row = data.workflows[i], row.abortRequested == nil, WorkflowStatus.abortable.contains(row.status) else {
                        continue
                    }
                    row.abortRequested = now
                    row.updated = now
                    data.workflows[i] = row
                    toAbort += 1
                }
            }
            let notLaunched = unclaimed + unlaunched
            state.addEvent(
                workloadID, kind: "aborted",
                message: "Workload aborted: \(toAbort) workflow(s) to abort at the backend, \(notLaunched) never launched",
                data: ["toAbort": .int(Int64(toAbort)), "neverLaunched": .int(Int64(notLaunched))], now: now, actor: actor)
            return try state.record(workloadID)
        }
    }

    // MARK: Workflows and events

    public func workflows(workloadID: Int64, filter: WorkflowFilter, afterID: Int64?, limit: Int) async throws -> [WorkflowRecord] {
        try locked { state in
            guard let data = state.workloads[workloadID] else { return [] }
            let statuses = Set(filter.statuses), uuids = Set(filter.uuids)
            var result: [WorkflowRecord] = []
            for row in data.rows where row.id > (afterID ?? Int64.min) && row.matches(filter, statuses: statuses, uuids: uuids) {
                guard result.count < limit else { break }
                result.append(row.record)
            }
            return result
        }
    }

    public func workflow(uuid: UUID) async throws -> (workload: UUID, record: WorkflowRecord)? {
        try locked { state in
            for data in state.workloads.values {
                if let index = data.index[uuid], let row = data.workflows[index] { return (data.record.uuid, row.record) }
            }
            return nil
        }
    }

    public func recentEvents(workloadID: Int64, kind: String?, since: Date, limit: Int) async throws -> [WorkloadEvent] {
        try locked { state in
            let events = state.workloads[workloadID]?.events ?? []
            return Array(events.reversed().lazy.filter { (kind == nil || $0.kind == kind) && $0.at >= since }.prefix(max(0, limit)))
        }
    }

    public func events(workloadID: Int64, afterID: Int64?, limit: Int) async throws -> [WorkloadEvent] {
        try locked { state in
            guard let events = state.workloads[workloadID]?.events else { return [] }
            return Array(events.lazy.filter { $0.id > (afterID ?? Int64.min) }.prefix(max(0, limit)))
        }
    }

    // MARK: Retry

    public func retry(workloadID: Int64, filter: WorkflowFilter, overrides: JSONObject, by actor: String) async throws -> [WorkflowRecord] {
        try locked { state in
            guard let wasFinished = state.workloads[workloadID].map({ $0.record.finished != nil }) else { return [] }
            let now = Date()
            var newest = filter
            newest.includeRetried = false
            let statuses = Set(newest.statuses), uuids = Set(newest.uuids)
            let submission = UUID().uuidString.lowercased()
            let originals = state.workloads[workloadID]!.rows.filter {
                $0.status.isFinal && $0.matches(newest, statuses: statuses, uuids: uuids)
            }
            var created: [WorkflowRecord] = []
            for original in originals {
                var row = state.newWorkflow(status: .pending, inputs: original.inputs, now: now)
                row.sourceItemID = original.sourceItemID
                row.attempt = original.attempt + 1
                row.overrides = overrides
                row.retryOf = original.uuid
                row.submission = submission
                created.append(row.record)
                try state.withWorkload(workloadID) { data in
                    data.append(row)
                    data.update(original.uuid) { old in
                        old.retriedBy = row.uuid
                        old.updated = now
                    }
                }
            }
            guard !created.isEmpty else { return [] }
            try state.withWorkload(workloadID) { data in
                data.record.finished = nil
                data.record.aborted = nil
                data.record.updated = now
                data.wakeAt = now
            }
            state.addEvent(
                workloadID, kind: "retried",
                message: "Retrying \(created.count) workflow(s)\(wasFinished ? "; workload active again" : "")",
                data: ["count": .int(Int64(created.count)), "overrides": overrides.isEmpty ? .null : .object(overrides)], now: now,
                actor: actor)
            return created
        }
    }

    // MARK: Update loop

    public func dueWorkloads(limit: Int) async throws -> [WorkloadRef] {
        try locked { state in
            let now = Date()
            return state.workloads.values
                .compactMap { data -> (Date, WorkloadRecord)? in
                    guard data.record.started != nil, data.record.finished == nil, let wake = data.wakeAt, wake <= now else { return nil }
                    return (wake, data.record)
                }
                .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1.id < $1.1.id }
                .prefix(max(0, limit))
                .map { $0.1.ref }
        }
    }

    public func withWorkloadLock<T: Sendable>(
        workloadID: Int64, wait: Duration, _ body: @escaping @Sendable (any WorkloadQueues) async throws -> T
    ) async throws -> T? {
        let clock = ContinuousClock()
        let deadline = clock.now + wait
        while true {
            if try locked({ $0.locks.insert(workloadID).inserted }) { break }
            let now = clock.now
            if now >= deadline { return nil }
            try await Task.sleep(for: min(.milliseconds(5), deadline - now))
        }
        defer { _ = try? locked { $0.locks.remove(workloadID) } }
        return try await body(MemoryWorkloadQueues(store: self, workloadID: workloadID))
    }

    public func recordUpdateError(workloadID: Int64, message: String, retryAt: Date, quarantine: Bool) async throws {
        try locked { state in
            let now = Date()
            try state.withWorkload(workloadID) { data in
                data.record.lastError = message
                data.record.lastErrorAt = now
                data.record.errorCount += 1
                data.record.updated = now
                data.record.quarantinedAt = quarantine ? (data.record.quarantinedAt ?? now) : nil
                data.wakeAt = retryAt
            }
            let record = try state.record(workloadID)
            var data: JSONObject = ["retryAt": Timestamp.json(retryAt), "consecutive": .int(Int64(record.errorCount))]
            if quarantine { data["newlyQuarantined"] = .bool(record.quarantinedAt == now) }
            state.addEvent(workloadID, kind: quarantine ? "quarantined" : "error", message: message, data: .object(data), now: now)
        }
    }

    public func redeliver(workloadID: Int64, uuids: [UUID]?, by actor: String) async throws -> Int {
        try locked { state in
            guard state.workloads[workloadID] != nil else { return 0 }
            let now = Date()
            let only = uuids.map(Set.init)
            let count = try state.withWorkload(workloadID) { data -> Int in
                var count = 0
                for i in data.workflows.indices {
                    guard var row = data.workflows[i], row.status == .succeeded, row.consumed != nil, row.deliveryError != nil,
                        only?.contains(row.uuid) ?? true
                    else { continue }
                    row.consumed = nil
                    row.deliveryAttempts = 0
                    row.deliveryError = nil
                    row.delivery = nil
                    row.nextAttemptAt = nil
                    row.updated = now
                    data.workflows[i] = row
                    count += 1
                }
                guard count > 0 else { return 0 }
                data.record.finished = nil
                data.record.updated = now
                data.wakeAt = now
                return count
            }
            guard count > 0 else { return 0 }
            state.addEvent(
                workloadID, kind: "redelivered",
                message: "Put \(count) set-aside deliver\(count == 1 ? "y" : "ies") back in the sink's queue",
                data: ["count": .int(Int64(count))], now: now, actor: actor)
            return count
        }
    }

    // MARK: API tokens

    public func createToken(_ token: NewAPIToken) async throws -> APITokenRecord {
        try locked { state in
            guard !state.tokens.contains(where: { $0.record.name == token.name && $0.record.revokedAt == nil }) else {
                throw LauncherError(
                    .conflict, "a token named \(token.name) already exists; revoke it first or choose another name",
                    details: ["field": "name"])
            }
            let record = APITokenRecord(
                name: token.name, role: token.role, createdAt: Date(), createdBy: token.createdBy, expires: token.expires)
            state.tokens.append((token.hash, record))
            return record
        }
    }

    public func tokens() async throws -> [APITokenRecord] {
        try locked { state in state.tokens.map(\.record).sorted { $0.name < $1.name } }
    }

    public func token(hash: [UInt8]) async throws -> APITokenRecord? {
        try locked { state in state.tokens.first { $0.hash == hash }?.record }
    }

    public func revokeToken(name: String) async throws -> APITokenRecord? {
        try locked { state in
            guard let i = state.tokens.firstIndex(where: { $0.record.name == name && $0.record.revokedAt == nil }) else { return nil }
            state.tokens[i].record.revokedAt = Date()
            return state.tokens[i].record
        }
    }
}

// MARK: - The queues of one workload

/// One workload's queues; handed out by `withWorkloadLock`. Each call is one critical section.
struct MemoryWorkloadQueues: WorkloadQueues {
    let store: MemoryStore
    let workloadID: Int64

    private func locked<T: Sendable>(_ body: (inout State) throws -> T) throws -> T { try store.locked(body) }

    /// Runs `body` on the workload's data; a workload that is gone has nothing to change.
    private func onWorkload<T: Sendable>(_ empty: T, _ body: (inout WorkloadData, Date) throws -> T) throws -> T {
        try locked { state in
            guard state.workloads[workloadID] != nil else { return empty }
            return try state.withWorkload(workloadID) { try body(&$0, Date()) }
        }
    }

    func reload() async throws -> WorkloadRecord {
        try locked { state in
            guard let record = state.workloads[workloadID]?.record else {
                throw LauncherError(.notFound, "workload \(workloadID) is gone")
            }
            return record
        }
    }

    // MARK: Source queue

    func recordPoll(items: [JSONValue], state newState: JSONValue) async throws {
        try locked { state in
            try state.requireWorkload(workloadID)
            state.insertItems(workloadID, items, now: Date())
            try state.withWorkload(workloadID) { $0.record.sourceState = newState }
        }
    }

    // MARK: Executor queue

    func inFlight() async throws -> InFlight {
        try onWorkload(InFlight(pending: 0, active: 0, nextBackoffDue: nil)) { data, _ in
            var pending = 0, active = 0, delivering = 0
            var due: Date?
            for row in data.rows {
                if row.status == .pending {
                    pending += 1
                    if let next = row.nextAttemptAt { due = min(due ?? next, next) }
                } else if row.status.isActive {
                    active += 1
                } else if row.status == .succeeded, row.consumed == nil {
                    if row.delivery != nil { delivering += 1 }
                    if let next = row.nextAttemptAt { due = min(due ?? next, next) }
                }
            }
            return InFlight(pending: pending, active: active, delivering: delivering, nextBackoffDue: due)
        }
    }

    func claimItems(limit: Int, submission: String) async throws -> [LaunchRequest] {
        try locked { state in
            guard let first = state.workloads[workloadID]?.firstUnconsumed, state.workloads[workloadID]?.record.aborted == nil,
                limit > 0
            else { return [] }
            let now = Date()
            var claimed: [LaunchRequest] = []
            var i = first
            while claimed.count < limit, i < state.workloads[workloadID]!.items.count {
                defer { i += 1 }
                let item = state.workloads[workloadID]!.items[i]
                guard item.consumed == nil else { continue }
                var row = state.newWorkflow(status: .pending, inputs: item.payload, now: now)
                row.sourceItemID = item.id
                row.submission = submission
                row.launchAttempts = 1
                try state.withWorkload(workloadID) { data in
                    data.items[i].consumed = now
                    data.append(row)
                }
                claimed.append(
                    LaunchRequest(
                        uuid: row.uuid, inputs: row.inputs.objectValue ?? [:], attempt: 1, overrides: [:],
                        submission: submission, mayExist: false))
            }
            try state.withWorkload(workloadID) { $0.advanceUnconsumed() }
            return claimed
        }
    }

    func abortUnclaimed() async throws -> Int {
        try locked { state in state.abortUnclaimed(workloadID, now: Date()) }
    }

    func launchable(limit: Int) async throws -> [LaunchRequest] {
        try onWorkload([]) { data, now in
            var result: [LaunchRequest] = []
            for row in data.rows where row.status == .pending && row.abortRequested == nil && (row.nextAttemptAt.map { $0 <= now } ?? true)
            {
                guard result.count < limit else { break }
                result.append(
                    LaunchRequest(
                        uuid: row.uuid, inputs: row.inputs.objectValue ?? [:], attempt: row.attempt,
                        overrides: row.overrides, submission: row.submission, mayExist: row.launchAttempts > 0))
            }
            return result
        }
    }

    func markLaunchAttempt(_ uuids: [UUID]) async throws -> Set<UUID> {
        try onWorkload([]) { data, now in
            var marked: Set<UUID> = []
            for uuid in uuids {
                data.update(uuid) { row in
                    guard row.status == .pending, row.abortRequested == nil, !marked.contains(uuid) else { return }
                    row.launchAttempts += 1
                    row.updated = now
                    marked.insert(uuid)
                }
            }
            return marked
        }
    }

    func recordLaunches(_ outcomes: [UUID: SubmitOutcome], retry: RetryPolicy) async throws -> LaunchTally {
        try locked { state in
            var tally = LaunchTally()
            guard state.workloads[workloadID] != nil else { return tally }
            let now = Date()
            for (uuid, outcome) in outcomes {
                guard case .expanded(let expansion) = outcome else { continue }
                tally.launched += try state.expand(workloadID, uuid, expansion, now: now)
            }
            var launched = 0, failed = 0
            try state.withWorkload(workloadID) { data in
                for (uuid, outcome) in outcomes {
                    switch outcome {
                    case .launched(let l):
                        data.update(uuid) { row in
                            guard row.status == .pending else { return }
                            row.status = l.status
                            row.externalID = l.externalID.nonEmpty
                            row.submission = l.submission.nonEmpty ?? row.submission
                            row.outputs = l.outputs
                            row.details.merge(l.details) { _, new in new }
                            row.error = l.error
                            row.submitted = now
                            row.updated = now
                            row.nextAttemptAt = nil
                            row.finished = l.status.isFinal ? now : nil
                            launched += 1
                        }
                    case .failed(let error):
                        tally.lastError = error.message
                        data.update(uuid) { row in
                            guard row.status == .pending else { return }
                            row.status = .failed
                            row.error = error
                            row.finished = now
                            row.updated = now
                            row.nextAttemptAt = nil
                            failed += 1
                        }
                    case .deferred(let message):
                        tally.lastError = message
                        data.update(uuid) { row in
                            guard row.status == .pending else { return }
                            let attempts = row.launchAttempts
                            if attempts >= retry.attempts {
                                row.status = .failed
                                row.error = .infrastructure("gave up after \(attempts) launch attempts: \(message)")
                                row.nextAttemptAt = nil
                                row.finished = now
                                tally.gaveUp += 1
                            } else {
                                row.error = .infrastructure("launch attempt \(attempts) failed, will retry: \(message)")
                                row.nextAttemptAt = now.addingTimeInterval(retry.delay(afterFailure: attempts))
                                row.finished = nil
                                tally.deferred += 1
                            }
                            row.updated = now
                        }
                    case .expanded:
                        break  // recorded above
                    }
                }
            }
            tally.launched += launched
            tally.failed = failed
            return tally
        }
    }

    func active(afterID: Int64?, limit: Int) async throws -> [(id: Int64, workflow: ActiveWorkflow)] {
        try onWorkload([]) { data, _ in
            var result: [(id: Int64, workflow: ActiveWorkflow)] = []
            for row in data.rows where row.status.isActive && row.id > (afterID ?? 0) {
                guard result.count < limit else { break }
                result.append((id: row.id, workflow: row.active))
            }
            return result
        }
    }

    func abortRequested(limit: Int) async throws -> [ActiveWorkflow] {
        try onWorkload([]) { data, _ in
            var result: [ActiveWorkflow] = []
            for row in data.rows where row.abortRequested != nil && WorkflowStatus.abortable.contains(row.status) {
                guard result.count < limit else { break }
                result.append(row.active)
            }
            return result
        }
    }

    func apply(_ updates: [(previous: WorkflowStatus, update: WorkflowUpdate)]) async throws -> [WorkflowStatus: Int] {
        guard !updates.isEmpty else { return [:] }
        return try onWorkload([:]) { data, now in
            var changed: [WorkflowStatus: Int] = [:]
            var touched: Set<UUID> = []  // one statement: each row changes at most once
            for (previous, u) in updates where !touched.contains(u.uuid) {
                data.update(u.uuid) { row in
                    guard row.status == previous else { return }
                    touched.insert(u.uuid)
                    row.status = u.status
                    row.externalID = u.externalID.nonEmpty ?? row.externalID
                    row.outputs = u.outputs ?? row.outputs
                    row.details.merge(u.details) { _, new in new }
                    row.error = u.error ?? row.error
                    if row.submitted == nil && u.status != .pending && u.status != .aborted { row.submitted = now }
                    if u.status.isFinal { row.finished = now }
                    row.updated = now
                    if u.status != previous { changed[u.status, default: 0] += 1 }
                }
            }
            return changed
        }
    }

    // MARK: Sink queue

    func deliverable(limit: Int) async throws -> [DeliverableWorkflow] {
        try onWorkload([]) { data, now in
            var result: [DeliverableWorkflow] = []
            for row in data.rows
            where row.status == .succeeded && row.consumed == nil && row.delivery == nil
                && (row.nextAttemptAt.map { $0 <= now } ?? true)
            {
                guard result.count < limit else { break }
                result.append(
                    DeliverableWorkflow(
                        uuid: row.uuid, status: row.status, attempt: row.attempt, externalID: row.externalID, submission: row.submission,
                        inputs: row.inputs.objectValue ?? [:], outputs: row.outputs ?? [:], details: row.details, created: row.created,
                        submitted: row.submitted, finished: row.finished))
            }
            return result
        }
    }

    func deliveriesUnderWay(limit: Int) async throws -> [PendingDelivery] {
        try onWorkload([]) { data, _ in
            var result: [PendingDelivery] = []
            for row in data.rows where row.status == .succeeded && row.consumed == nil {
                guard let handle = row.delivery else { continue }
                guard result.count < limit else { break }
                result.append(PendingDelivery(uuid: row.uuid, handle: handle, started: row.deliveryStarted ?? Date()))
            }
            return result
        }
    }

    func recordDeliveries(_ outcomes: [UUID: DeliveryOutcome], retry: RetryPolicy) async throws -> DeliveryTally {
        try onWorkload(DeliveryTally()) { data, now in
            var tally = DeliveryTally()
            for (uuid, outcome) in outcomes {
                switch outcome {
                case .started(let handle):
                    data.update(uuid) { row in
                        guard row.consumed == nil else { return }
                        row.delivery = handle
                        row.deliveryStarted = now
                        row.updated = now
                        tally.started += 1
                    }
                case .delivered:
                    data.update(uuid) { row in
                        guard row.consumed == nil else { return }
                        row.consumed = now
                        row.updated = now
                        row.deliveryError = nil
                        row.nextAttemptAt = nil
                        tally.delivered += 1
                    }
                case .retry(let message), .rejected(let message):
                    tally.lastError = message
                    var rejected = false
                    if case .rejected = outcome { rejected = true }
                    data.update(uuid) { row in
                        guard row.consumed == nil else { return }
                        let failures = row.deliveryAttempts + 1
                        row.deliveryAttempts = failures
                        row.deliveryError = message
                        row.delivery = nil
                        row.consumed = rejected || failures >= retry.attempts ? now : nil
                        row.nextAttemptAt = now.addingTimeInterval(retry.delay(afterFailure: failures))
                        row.updated = now
                        if row.consumed != nil { tally.setAside += 1 } else { tally.retrying += 1 }
                    }
                }
            }
            return tally
        }
    }

    // MARK: Workload

    func finishIfDone(sourceDone: Bool, ignoreUnconsumedItems: Bool) async throws -> Bool {
        guard sourceDone else { return false }
        let workloadID = self.workloadID
        return try locked { state in
            guard state.workloads[workloadID] != nil else { return false }
            let now = Date()
            let counts = try state.withWorkload(workloadID) { data -> [WorkflowStatus: Int]? in
                guard data.record.finished == nil,
                    ignoreUnconsumedItems || !data.items[data.firstUnconsumed...].contains(where: { $0.consumed == nil }),
                    !data.rows.contains(where: {
                        $0.status == .pending || $0.status.isActive || ($0.status == .succeeded && $0.consumed == nil)
                    })
                else { return nil }
                data.record.finished = now
                data.record.updated = now
                data.wakeAt = nil
                var counts: [WorkflowStatus: Int] = [:]
                for row in data.rows where row.retriedBy == nil { counts[row.status, default: 0] += 1 }
                return counts
            }
            guard let counts else { return false }
            var data: JSONObject = [:]
            for (status, count) in counts { data[status.rawValue] = .int(Int64(count)) }
            state.addEvent(workloadID, kind: "finished", message: "Workload finished", data: .object(data), now: now)
            return true
        }
    }

    func setWake(_ at: Date?) async throws {
        try onWorkload(()) { data, now in
            data.wakeAt = at
            data.record.updated = now
        }
    }

    func recordSuccess() async throws {
        try onWorkload(()) { data, _ in
            data.record.errorCount = 0
            data.record.quarantinedAt = nil
        }
    }

    func addEvent(kind: String, message: String, data: JSONValue) async throws {
        try locked { state in
            try state.requireWorkload(workloadID)
            state.addEvent(workloadID, kind: kind, message: message, data: data, now: Date())
        }
    }
}

// MARK: - Notifications

extension MemoryStore {
    public func claimNotifications(limit: Int, lease: Duration, kinds: [String]) async throws -> [OutgoingNotification] {
        try locked { state in
            let now = Date()
            let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
            let due = state.notifications.indices
                .filter {
                    let row = state.notifications[$0]
                    return row.sent == nil && row.gaveUp == nil && row.due <= now
                        && kinds.contains(row.watcher.arrayValue?.first?.stringValue ?? "")
                }
                .sorted {
                    (state.notifications[$0].due, state.notifications[$0].id) < (state.notifications[$1].due, state.notifications[$1].id)
                }
                .prefix(limit)
            var claimed: [OutgoingNotification] = []
            for index in due.sorted(by: { state.notifications[$0].id < state.notifications[$1].id }) {
                state.notifications[index].due = now.addingTimeInterval(seconds)
                state.notifications[index].attempts += 1
                let row = state.notifications[index]
                guard let data = state.workloads[row.workloadID], let event = data.events.first(where: { $0.id == row.eventID }) else {
                    continue
                }
                claimed.append(
                    OutgoingNotification(
                        id: row.id, key: row.key, attempts: row.attempts, watcher: row.watcher, workload: data.record.uuid,
                        project: data.record.project, event: event))
            }
            return claimed
        }
    }

    public func recordNotifications(_ results: [NotificationAttempt]) async throws {
        let byID = Dictionary(results.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        try locked { state in
            let now = Date()
            for index in state.notifications.indices {
                let row = state.notifications[index]
                guard let attempt = byID[row.id], row.sent == nil, row.gaveUp == nil else { continue }
                // A send always counts; a retry or a give-up only from the attempt holding the row.
                if attempt.result != .sent && attempt.attempt != row.attempts { continue }
                switch attempt.result {
                case .sent:
                    state.notifications[index].sent = now
                    state.notifications[index].lastError = nil
                case .retry(let at, let error):
                    state.notifications[index].due = at
                    state.notifications[index].lastError = error
                case .gaveUp(let error):
                    state.notifications[index].gaveUp = now
                    state.notifications[index].lastError = error
                    state.addEvent(
                        row.workloadID, kind: "notification-failed", message: error,
                        data: ["notification": .string(row.key.uuidString.lowercased()), "watcher": row.watcher], now: now)
                }
            }
        }
    }

    /// The outbox as it stands (tests).
    public func notificationStates() throws -> [(key: UUID, watcher: JSONValue, attempts: Int, sent: Bool, gaveUp: Bool)] {
        try locked { state in state.notifications.map { ($0.key, $0.watcher, $0.attempts, $0.sent != nil, $0.gaveUp != nil) } }
    }
}

// MARK: - State

/// Every table of the store. Ids come from one counter per table, as PostgreSQL's identity
/// columns do, so they ascend in creation order across workloads.
fileprivate struct State: Sendable {
    var workloads: [Int64: WorkloadData] = [:]
    /// Workload ids in creation (= id) order.
    var order: [Int64] = []
    var byUUID: [UUID: Int64] = [:]
    var lastWorkloadID: Int64 = 0
    var lastItemID: Int64 = 0
    var lastWorkflowID: Int64 = 0
    var lastEventID: Int64 = 0
    var lastNotificationID: Int64 = 0
    var notifications: [NotificationRow] = []
    /// Workloads whose update lock is held.
    var locks: Set<Int64> = []
    var tokens: [(hash: [UInt8], record: APITokenRecord)] = []

    func requireWorkload(_ id: Int64) throws {
        guard workloads[id] != nil else {
            throw LauncherError(.internalError, "database error: workload \(id) does not exist (foreign key violation)")
        }
    }

    func record(_ id: Int64) throws -> WorkloadRecord {
        guard let record = workloads[id]?.record else { throw LauncherError(.notFound, "workload \(id) is gone") }
        return record
    }

    mutating func withWorkload<T>(_ id: Int64, _ body: (inout WorkloadData) throws -> T) throws -> T {
        guard var data = workloads[id] else { throw LauncherError(.notFound, "workload \(id) is gone") }
        workloads[id] = nil  // no second copy while it changes
        defer { workloads[id] = data }
        return try body(&data)
    }

    mutating func insertItems(_ id: Int64, _ payloads: [JSONValue], now: Date) {
        guard !payloads.isEmpty else { return }
        var rows: [ItemRow] = []
        rows.reserveCapacity(payloads.count)
        for payload in payloads {
            lastItemID += 1
            rows.append(ItemRow(id: lastItemID, payload: payload, consumed: nil))
        }
        workloads[id]?.items.append(contentsOf: rows)
    }

    mutating func newWorkflow(status: WorkflowStatus, inputs: JSONValue, now: Date) -> WorkflowRow {
        lastWorkflowID += 1
        return WorkflowRow(id: lastWorkflowID, uuid: UUID(), status: status, inputs: inputs, created: now, updated: now)
    }

    mutating func addEvent(_ id: Int64, kind: String, message: String, data: JSONValue, now: Date, actor: String? = nil) {
        guard workloads[id] != nil else { return }
        lastEventID += 1
        workloads[id]!.events.append(WorkloadEvent(id: lastEventID, at: now, kind: kind, message: message, data: data, actor: actor))
        // The outbox rows, with the event (as PostgreSQL's one statement).
        guard NotificationRule.notifies(kind: kind, data: data) else { return }
        for watcher in workloads[id]!.record.watchers.arrayValue ?? [] {
            lastNotificationID += 1
            notifications.append(
                NotificationRow(id: lastNotificationID, key: UUID(), workloadID: id, eventID: lastEventID, watcher: watcher, due: now))
        }
    }

    /// Unclaimed items become Aborted workflows, in item order (the PostgreSQL shared statement).
    mutating func abortUnclaimed(_ id: Int64, now: Date) -> Int {
        guard let first = workloads[id]?.firstUnconsumed, let end = workloads[id]?.items.count else { return 0 }
        var count = 0
        for i in first..<end {
            let item = workloads[id]!.items[i]
            guard item.consumed == nil else { continue }
            var row = newWorkflow(status: .aborted, inputs: item.payload, now: now)
            row.sourceItemID = item.id
            row.finished = now
            row.error = WorkflowError("aborted before it was launched")
            workloads[id]!.items[i].consumed = now
            workloads[id]!.append(row)
            count += 1
        }
        workloads[id]!.advanceUnconsumed()
        return count
    }

    /// Replaces a Pending workflow by the workflows its item expanded into.
    mutating func expand(_ id: Int64, _ uuid: UUID, _ expansion: Expansion, now: Date) throws -> Int {
        guard let position = workloads[id]?.index[uuid], let placeholder = workloads[id]?.workflows[position],
            placeholder.status == .pending
        else { return 0 }
        try withWorkload(id) { $0.remove(uuid) }
        for workflow in expansion.workflows {
            var row = newWorkflow(status: workflow.status, inputs: .object(workflow.inputs), now: now)
            row.sourceItemID = placeholder.sourceItemID
            row.attempt = placeholder.attempt
            row.details = workflow.details
            row.overrides = placeholder.overrides
            row.externalID = workflow.externalID.nonEmpty
            row.submission = expansion.submission
            row.submitted = now
            row.launchAttempts = 1
            row.finished = workflow.status.isFinal ? now : nil
            try withWorkload(id) { $0.append(row) }
        }
        return expansion.workflows.count
    }
}

fileprivate struct ItemRow: Sendable {
    var id: Int64
    var payload: JSONValue
    var consumed: Date?
}

fileprivate struct NotificationRow: Sendable {
    var id: Int64
    var key: UUID
    var workloadID: Int64
    var eventID: Int64
    var watcher: JSONValue
    var due: Date
    var attempts = 0
    var sent: Date?
    var gaveUp: Date?
    var lastError: String?
}

fileprivate struct WorkloadData: Sendable {
    var record: WorkloadRecord
    var wakeAt: Date?
    var items: [ItemRow] = []
    /// Items before this index are all consumed (claims take the oldest first).
    var firstUnconsumed = 0
    /// In id order; nil where a workflow was deleted (an expansion's placeholder).
    var workflows: [WorkflowRow?] = []
    var index: [UUID: Int] = [:]
    var events: [WorkloadEvent] = []

    init(record: WorkloadRecord, wakeAt: Date?) {
        self.record = record
        self.wakeAt = wakeAt
    }

    var rows: some Sequence<WorkflowRow> { workflows.lazy.compactMap { $0 } }

    mutating func append(_ row: WorkflowRow) {
        index[row.uuid] = workflows.count
        workflows.append(row)
    }

    mutating func remove(_ uuid: UUID) {
        guard let position = index.removeValue(forKey: uuid) else { return }
        workflows[position] = nil
    }

    mutating func update(_ uuid: UUID, _ body: (inout WorkflowRow) -> Void) {
        guard let position = index[uuid], var row = workflows[position] else { return }
        body(&row)
        workflows[position] = row
    }

    mutating func advanceUnconsumed() {
        while firstUnconsumed < items.count, items[firstUnconsumed].consumed != nil { firstUnconsumed += 1 }
    }
}

/// One row of the workflow table, with the columns the records leave out.
fileprivate struct WorkflowRow: Sendable {
    var id: Int64
    var uuid: UUID
    var sourceItemID: Int64?
    var status: WorkflowStatus
    var attempt = 1
    var externalID: String?
    var submission: String?
    /// As stored: an item's payload (read back as an object, or empty).
    var inputs: JSONValue
    var outputs: JSONObject?
    var details: JSONObject = [:]
    var overrides: JSONObject = [:]
    var error: WorkflowError?
    var retryOf: UUID?
    var retriedBy: UUID?
    var launchAttempts = 0
    var nextAttemptAt: Date?
    var abortRequested: Date?
    var created: Date
    var submitted: Date?
    var updated: Date
    var finished: Date?
    var consumed: Date?
    var deliveryAttempts = 0
    var deliveryError: String?
    var delivery: JSONObject?
    var deliveryStarted: Date?

    init(id: Int64, uuid: UUID, status: WorkflowStatus, inputs: JSONValue, created: Date, updated: Date) {
        self.id = id
        self.uuid = uuid
        self.status = status
        self.inputs = inputs
        self.created = created
        self.updated = updated
    }

    func matches(_ filter: WorkflowFilter, statuses: Set<WorkflowStatus>, uuids: Set<UUID>) -> Bool {
        (filter.includeRetried || retriedBy == nil)
            && (statuses.isEmpty || statuses.contains(status))
            && (filter.submission == nil || submission == filter.submission)
            && (uuids.isEmpty || uuids.contains(uuid))
    }

    var record: WorkflowRecord {
        WorkflowRecord(
            id: id, uuid: uuid, status: status, attempt: attempt, externalID: externalID, submission: submission,
            inputs: inputs.objectValue ?? [:], outputs: outputs, details: details, overrides: overrides, error: error,
            retryOf: retryOf, retriedBy: retriedBy, created: created, submitted: submitted, updated: updated,
            finished: finished, consumed: consumed, deliveryError: deliveryError)
    }

    var active: ActiveWorkflow {
        ActiveWorkflow(
            uuid: uuid, status: status, externalID: externalID, submission: submission, attempt: attempt,
            overrides: overrides, details: details, submitted: submitted)
    }
}

extension WorkflowStatus {
    /// What an aborted workload still has to abort at the backend (as PostgreSQL's `abortableList`).
    fileprivate static let abortable: Set<WorkflowStatus> = Set([.pending] + WorkflowStatus.active.filter { $0 != .aborting })
}

extension Optional where Wrapped == String {
    /// `NULLIF(value, '')`: an empty string is stored as no value.
    fileprivate var nonEmpty: String? {
        switch self {
        case .some(let text) where !text.isEmpty: text
        default: nil
        }
    }
}
