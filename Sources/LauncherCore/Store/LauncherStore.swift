import Foundation

/// Durable state: workloads, their queues and their event log. Implemented over PostgreSQL by
/// `LauncherPostgres`; the core never sees SQL, so it builds without NIO.
///
/// Every state change is conditional on the state it expects, so two processes acting on the
/// same rows (an HTTP handler and an updater) cannot overwrite each other's work. Changes a
/// request makes name who made it (`by`), recorded on the event they log.
public protocol LauncherStore: Sendable {
    func ping() async throws

    /// Writes the workload and its initial source items in one transaction; nothing on error.
    func createWorkload(_ workload: NewWorkload, items: [JSONValue], start: Bool) async throws -> WorkloadRecord
    func workload(uuid: UUID) async throws -> WorkloadRecord?
    /// Workloads that match the filter, in its order, after the workload `afterID` (in that order).
    func workloads(filter: WorkloadFilter, afterID: Int64?, limit: Int) async throws -> [WorkloadRecord]
    /// Workflow counts by status (newest attempts only), for many workloads in one query. Kept
    /// up to date as statuses change, so a read costs the same at any workload size.
    func statusCounts(workloadIDs: [Int64]) async throws -> [Int64: [WorkflowStatus: Int]]

    /// Sets `started` (no-op when already started). Returns the workload as it now is.
    func start(workloadID: Int64, by actor: String) async throws -> WorkloadRecord
    func stop(workloadID: Int64, by actor: String) async throws -> WorkloadRecord
    /// In one transaction: sets `aborted` (and `stopped`), turns unclaimed source items into
    /// `Aborted` workflows (so a retry can relaunch them), aborts `Pending` workflows no launch
    /// attempt reached, and flags the rest for the updater to abort at the backend.
    func markAborted(workloadID: Int64, by actor: String) async throws -> WorkloadRecord

    func workflows(workloadID: Int64, filter: WorkflowFilter, afterID: Int64?, limit: Int) async throws -> [WorkflowRecord]
    /// One workflow, any attempt, with its workload's uuid (workflow uuids are unique across workloads).
    func workflow(uuid: UUID) async throws -> (workload: UUID, record: WorkflowRecord)?
    func events(workloadID: Int64, afterID: Int64?, limit: Int) async throws -> [WorkloadEvent]
    /// The newest events (of one kind, when given) since a time, newest first (the dashboard).
    func recentEvents(workloadID: Int64, kind: String?, since: Date, limit: Int) async throws -> [WorkloadEvent]

    /// In one transaction: relaunch the final, newest-attempt workflows matching `filter` as
    /// new `Pending` workflows (attempt + 1) linked to the originals, reopen a finished
    /// workload, and log the event. Returns the new workflows (empty when nothing matched).
    func retry(workloadID: Int64, filter: WorkflowFilter, overrides: JSONObject, by actor: String) async throws -> [WorkflowRecord]

    /// Started, unfinished workloads whose wake-up time has come, oldest wake-up first.
    func dueWorkloads(limit: Int) async throws -> [WorkloadRef]

    /// Runs `body` holding the workload's update lock (one updater per workload, across
    /// processes and machines). Returns nil without running `body` when another process holds
    /// it and it did not come free within `wait`. The lock dies with the holder's connection,
    /// so a crashed updater never blocks a workload.
    func withWorkloadLock<T: Sendable>(
        workloadID: Int64, wait: Duration, _ body: @escaping @Sendable (any WorkloadQueues) async throws -> T
    ) async throws -> T?

    /// Records a failed update on the workload (message, time, consecutive count, an event)
    /// and delays its next update with backoff. `quarantine` marks a workload that cannot be
    /// updated at all (its stored configuration does not load, its update threw where stages
    /// report problems as values): it stays visible as quarantined until an update succeeds.
    func recordUpdateError(workloadID: Int64, message: String, retryAt: Date, quarantine: Bool) async throws

    /// Started, unfinished workloads that are quarantined, and that are backing off after
    /// failed updates (for metrics).
    func troubleCounts() async throws -> (quarantined: Int, backingOff: Int)

    /// In one transaction: puts the workload's set-aside deliveries (succeeded workflows whose
    /// delivery was given up) back in the sink's queue with a fresh attempt budget — all of
    /// them, or those of `uuids` — reopens a finished workload, and logs the event. Returns how
    /// many were put back.
    func redeliver(workloadID: Int64, uuids: [UUID]?, by actor: String) async throws -> Int

    // Notifications: the outbox. Events the `NotificationRule` picks are written with one
    // notification per watcher, in the event's own statement.
    /// Claims up to `limit` due notifications to watchers of `kinds` (the channels this process
    /// has), oldest first, for `lease`: until then no other sender (another replica) claims
    /// them, and after it a notification whose result was never recorded (the sender crashed)
    /// is due again, so one may be sent twice but none is lost. Counts the attempt.
    func claimNotifications(limit: Int, lease: Duration, kinds: [String]) async throws -> [OutgoingNotification]
    /// Records attempts' results in one transaction. A retry or a give-up counts only from the
    /// attempt that holds the notification (a sender whose lease ran out and was claimed again
    /// does not reschedule the new holder's); a send always counts. A notification given up
    /// logs a `notification-failed` event on its workload with the reason.
    func recordNotifications(_ results: [NotificationAttempt]) async throws

    // API tokens (only their hashes are stored)
    /// Stores a new token; a conflict when a live token already has the name.
    func createToken(_ token: NewAPIToken) async throws -> APITokenRecord
    /// Every token, revoked ones included, by name.
    func tokens() async throws -> [APITokenRecord]
    /// The live or dead token with this hash.
    func token(hash: [UInt8]) async throws -> APITokenRecord?
    /// Revokes the live token of this name and returns it; nil when there is none.
    func revokeToken(name: String) async throws -> APITokenRecord?
}

/// The queues of one workload, used by its updater while it holds the workload's lock.
public protocol WorkloadQueues: Sendable {
    func reload() async throws -> WorkloadRecord

    // Source queue
    /// Stores an open source's new items and its new state in one transaction, so a crash
    /// can neither enqueue items twice nor lose the state that says they were enqueued.
    func recordPoll(items: [JSONValue], state: JSONValue) async throws

    // Executor queue
    /// Pending and active workflows, and the earliest launch or delivery backoff.
    func inFlight() async throws -> InFlight
    /// Turns up to `limit` unconsumed source items into Pending workflows in one statement
    /// (none once the workload is aborted), recording the first launch attempt with them, and
    /// returns them ready to launch.
    func claimItems(limit: Int, submission: String) async throws -> [LaunchRequest]
    /// Turns any unconsumed source items of an aborted workload into Aborted workflows.
    func abortUnclaimed() async throws -> Int
    /// Pending workflows, other than freshly claimed ones, whose next launch attempt is due:
    /// retries, launches that backed off, and launches a crash left unrecorded.
    func launchable(limit: Int) async throws -> [LaunchRequest]
    /// Records the intent to call the backend (launch attempt + 1) before calling it. Returns
    /// the workflows it marked: only those still Pending.
    func markLaunchAttempt(_ uuids: [UUID]) async throws -> Set<UUID>
    /// Writes launch outcomes in one statement per kind. Deferred launches wait as `retry`
    /// says; after its last attempt they fail as infrastructure errors.
    func recordLaunches(_ outcomes: [UUID: SubmitOutcome], retry: RetryPolicy) async throws -> LaunchTally
    /// Active workflows in id order after `afterID`, for polling.
    func active(afterID: Int64?, limit: Int) async throws -> [(id: Int64, workflow: ActiveWorkflow)]
    /// Workflows flagged for abort and not yet aborting (Pending ones included).
    func abortRequested(limit: Int) async throws -> [ActiveWorkflow]
    /// Applies executor updates, each conditional on the status the workflow had when read.
    func apply(_ updates: [(previous: WorkflowStatus, update: WorkflowUpdate)]) async throws -> [WorkflowStatus: Int]

    // Sink queue
    func deliverable(limit: Int) async throws -> [DeliverableWorkflow]
    /// Deliveries a sink started and has not reported finished.
    func deliveriesUnderWay(limit: Int) async throws -> [PendingDelivery]
    /// Marks delivered workflows consumed; failed deliveries wait as `retry` says and, after
    /// its last attempt (or at once when rejected), are set aside: consumed, with the error kept.
    func recordDeliveries(_ outcomes: [UUID: DeliveryOutcome], retry: RetryPolicy) async throws -> DeliveryTally

    // Workload
    /// Sets `finished` when nothing is left to do, and logs the `finished` event with the
    /// counts by status in the same transaction (its watchers are told: the event cannot be
    /// lost to a crash after the finish). Serialised with retry by the workload row lock.
    func finishIfDone(sourceDone: Bool, ignoreUnconsumedItems: Bool) async throws -> Bool
    /// When the next update of this workload is due (nil: only when something happens).
    func setWake(_ at: Date?) async throws
    func recordSuccess() async throws
    func addEvent(kind: String, message: String, data: JSONValue) async throws
}

public struct InFlight: Sendable {
    public var pending: Int
    public var active: Int
    /// Deliveries a sink started and has not finished.
    public var delivering: Int = 0
    /// When the earliest launch (Pending) or delivery (Succeeded) backoff falls due.
    public var nextBackoffDue: Date?

    public init(pending: Int, active: Int, delivering: Int = 0, nextBackoffDue: Date?) {
        self.pending = pending
        self.active = active
        self.delivering = delivering
        self.nextBackoffDue = nextBackoffDue
    }
}

public struct LaunchTally: Sendable {
    public var launched = 0
    public var failed = 0
    public var deferred = 0
    public var gaveUp = 0
    public var lastError: String?
    public init() {}
}

public struct DeliveryTally: Sendable {
    public var delivered = 0
    /// Deliveries a sink started (they finish on a later tick).
    public var started = 0
    public var retrying = 0
    public var setAside = 0
    public var lastError: String?
    public init() {}
}

extension LauncherStore {
    /// Workloads in creation order after `afterID`, optionally of one project.
    public func workloads(project: String?, afterID: Int64?, limit: Int) async throws -> [WorkloadRecord] {
        try await workloads(filter: WorkloadFilter(project: project), afterID: afterID, limit: limit)
    }
}
