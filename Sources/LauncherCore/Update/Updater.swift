import Foundation
import Logging

public struct UpdaterOptions: Sendable {
    /// Workloads updated at once.
    public var concurrency: Int
    /// Items claimed, workflows launched, polled or delivered per batch.
    public var batchSize: Int
    /// How long one workload's update may keep working before it yields to the next pass.
    public var tickBudget: Duration
    /// Launches the backend deferred (transient errors): backoff, then failed as infrastructure.
    public var launchRetry: RetryPolicy
    /// Deliveries the sink could not make: backoff, then set aside as undeliverable.
    public var deliveryRetry: RetryPolicy
    /// Workloads whose update failed: backoff before the next try.
    public var errorBackoff: RetryPolicy
    /// Most due workloads one pass picks up.
    public var passLimit: Int

    public init(
        concurrency: Int = 4, batchSize: Int = 500, tickBudget: Duration = .seconds(10),
        maxLaunchAttempts: Int = RetryPolicy.launches.attempts, maxDeliveryAttempts: Int = RetryPolicy.deliveries.attempts,
        passLimit: Int = 10_000
    ) {
        self.concurrency = concurrency
        self.batchSize = batchSize
        self.tickBudget = tickBudget
        var launches = RetryPolicy.launches
        launches.attempts = max(1, maxLaunchAttempts)
        var deliveries = RetryPolicy.deliveries
        deliveries.attempts = max(1, maxDeliveryAttempts)
        launchRetry = launches
        deliveryRetry = deliveries
        errorBackoff = .workloadErrors
        self.passLimit = passLimit
    }
}

public struct PassReport: Sendable {
    /// The pass could list the due workloads (the database answered).
    public var listed = false
    public var due = 0
    public var updated = 0
    public var skippedLocked = 0
    public var failed = 0
    public var finished = 0
    public var seconds = 0.0
}

/// Moves every started, unfinished workload one step along its chain. Runs as a pass every
/// interval inside `wfl serve`, once per `wfl update`, and per workload under `wfl exec --wait`.
/// Any number of updaters may run at once, in any number of processes: each workload is
/// updated by whichever holds its lock, and the others skip it.
public final class Updater: Sendable {
    let store: any LauncherStore
    /// Errors the database could not take when they happened (it was down): recorded on the
    /// next pass, so an outage shows on the workloads it hit.
    private let unrecorded = UnrecordedErrors()
    let registry: StageRegistry
    let environment: LauncherEnvironment
    let options: UpdaterOptions
    let logger: Logger

    public init(
        store: any LauncherStore, registry: StageRegistry, environment: LauncherEnvironment,
        options: UpdaterOptions = UpdaterOptions(), logger: Logger
    ) {
        self.store = store
        self.registry = registry
        self.environment = environment
        self.options = options
        self.logger = logger
    }

    /// One pass over the workloads that are due. An error in one workload is recorded on it
    /// and never stops the others.
    public func runPass() async -> PassReport {
        let clock = ContinuousClock()
        let start = clock.now
        var report = PassReport()
        let due: [WorkloadRef]
        do {
            due = try await store.dueWorkloads(limit: options.passLimit)
            report.listed = true
            if let since = unrecorded.databaseBack() {
                logger.notice("the database answers again", metadata: ["unreachableFor": "\(Int(Date().timeIntervalSince(since))) s"])
            }
            await recordUnrecordedErrors()
        } catch {
            if unrecorded.databaseDown() {
                logger.error(
                    "the database is unreachable: update passes do nothing until it answers", metadata: ["error": "\(describe(error))"])
            }
            report.failed = 1
            report.seconds = (clock.now - start).seconds
            UpdateMetrics.record(report)
            return report
        }
        report.due = due.count
        await withTaskGroup(of: TickOutcome.self) { group in
            var next = due.makeIterator()
            func addNext() -> Bool {
                guard let workload = next.next() else { return false }
                group.addTask { await self.updateRecordingErrors(workload) }
                return true
            }
            for _ in 0..<max(1, options.concurrency) where !addNext() { break }
            while let outcome = await group.next() {
                switch outcome {
                case .updated(let finished):
                    report.updated += 1
                    if finished { report.finished += 1 }
                case .locked: report.skippedLocked += 1
                case .failed: report.failed += 1
                }
                _ = addNext()
            }
        }
        report.seconds = (clock.now - start).seconds
        UpdateMetrics.record(report)
        if report.due > 0 {
            logger.debug(
                "update pass",
                metadata: [
                    "due": "\(report.due)", "updated": "\(report.updated)", "locked": "\(report.skippedLocked)",
                    "failed": "\(report.failed)", "seconds": "\(report.seconds)",
                ])
        }
        return report
    }

    public enum TickOutcome: Sendable {
        case updated(finished: Bool)
        /// Another updater holds the workload.
        case locked
        /// The update failed; the error is recorded on the workload.
        case failed
    }

    /// Updates one workload, recording a failure on the workload (as a pass does) instead of
    /// throwing it.
    public func updateRecordingErrors(_ workload: WorkloadRecord, wait: Duration = .zero) async -> TickOutcome {
        await updateRecordingErrors(workload.ref, wait: wait)
    }

    public func updateRecordingErrors(_ workload: WorkloadRef, wait: Duration = .zero) async -> TickOutcome {
        do {
            guard let report = try await update(workloadID: workload.id, wait: wait) else { return .locked }
            return .updated(finished: report.finished)
        } catch {
            let quarantine = Self.quarantines(error)
            let message = quarantine ? "quarantined: \(describe(error))" : describe(error)
            logger.error(
                quarantine ? "workload quarantined" : "workload update failed",
                metadata: ["workload": "\(workload.uuid)", "error": "\(message)"])
            let retryAt = Date().addingTimeInterval(options.errorBackoff.delay(afterFailure: workload.errorCount + 1))
            do {
                try await store.recordUpdateError(workloadID: workload.id, message: message, retryAt: retryAt, quarantine: quarantine)
            } catch {
                logger.error(
                    "could not record the update error; it is recorded when the database answers",
                    metadata: ["workload": "\(workload.uuid)", "error": "\(describe(error))"])
                unrecorded.add(workload, message: message, quarantine: quarantine)
            }
            return .failed
        }
    }

    /// Updates one workload now, holding its lock; nil when another updater holds it and it
    /// did not come free within `wait`.
    public func update(workloadID: Int64, wait: Duration = .zero) async throws -> TickReport? {
        let report = try await store.withWorkloadLock(workloadID: workloadID, wait: wait) { queues in
            try await WorkloadTick(
                queues: queues, registry: self.registry, environment: self.environment,
                options: self.options, logger: self.logger
            ).run()
        }
        if let report { UpdateMetrics.record(report) }
        return report
    }

}

extension Updater {
    private func recordUnrecordedErrors() async {
        for pending in unrecorded.take() {
            // The database was away, not the workload's backend: look at it again at once.
            let retryAt = Date()
            do {
                try await store.recordUpdateError(
                    workloadID: pending.workload.id, message: pending.message, retryAt: retryAt,
                    quarantine: pending.quarantine)
            } catch {
                unrecorded.add(pending.workload, message: pending.message, quarantine: pending.quarantine)
                return
            }
        }
    }

    /// A failure that is the workload's own and will not pass by itself: its stored
    /// configuration does not load, or its update threw something other than a stage's or the
    /// database's "unavailable". Backend and database outages are not quarantine.
    static func quarantines(_ error: any Error) -> Bool {
        if error is Quarantine { return true }
        if let error = error as? LauncherError { return error.kind != .unavailable }
        return !(error is CancellationError)
    }
}

/// Update errors waiting for the database, and whether it is down (for logging an outage
/// once, not every pass).
private final class UnrecordedErrors: @unchecked Sendable {
    struct Pending {
        let workload: WorkloadRef
        let message: String
        let quarantine: Bool
    }

    private let lock = NSLock()
    private var pending: [Int64: Pending] = [:]
    private var downSince: Date?

    func add(_ workload: WorkloadRef, message: String, quarantine: Bool) {
        lock.lock()
        if pending.count < 10_000 { pending[workload.id] = Pending(workload: workload, message: message, quarantine: quarantine) }
        lock.unlock()
    }

    func take() -> [Pending] {
        lock.lock()
        defer { lock.unlock() }
        let all = Array(pending.values)
        pending = [:]
        return all
    }

    /// True when this starts an outage.
    func databaseDown() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if downSince != nil { return false }
        downSince = Date()
        return true
    }

    /// When the outage that just ended began, if one did.
    func databaseBack() -> Date? {
        lock.lock()
        defer { lock.unlock() }
        let since = downSince
        downSince = nil
        return since
    }
}

/// Why a workload cannot be updated at all.
struct Quarantine: Error, CustomStringConvertible {
    let description: String
}

func describe(_ error: any Error) -> String {
    if let error = error as? LauncherError { return error.message }
    return String(describing: error)
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
