import Foundation
import Logging

/// What one update of one workload did.
public struct TickReport: Sendable {
    public var claimed = 0
    public var launched = 0
    public var launchFailed = 0
    public var deferred = 0
    /// Workflows that reached each status in this update.
    public var changed: [WorkflowStatus: Int] = [:]
    public var delivered = 0
    public var setAside = 0
    public var finished = false
    /// Stage errors recorded on the workload (the update itself carried on).
    public var errors: [String] = []
}

/// One update of one workload, run while holding its lock:
///
/// 1. the source adds new items (open sources, unless stopped);
/// 2. workflows flagged for abort are aborted at the backend;
/// 3. active workflows are polled, a page at a time, one backend call per page;
/// 4. rounds of: claim items into Pending workflows, launch them, deliver succeeded ones —
///    until nothing moves or the tick's time budget is spent;
/// 5. the workload finishes when all three stages are done, else sets its next wake-up.
struct WorkloadTick {
    let queues: any WorkloadQueues
    let registry: StageRegistry
    let environment: LauncherEnvironment
    let options: UpdaterOptions
    let logger: Logger

    func run() async throws -> TickReport {
        let workload = try await queues.reload()
        var report = TickReport()
        guard workload.started != nil, workload.finished == nil else { return report }

        let source: any Source, executor: any Executor, sink: any Sink
        do {
            source = try registry.makeSource(.object(workload.sourceConfig), context: environment.storedContext)
            executor = try registry.makeExecutor(.object(workload.executorConfig), context: environment.storedContext)
            sink = try registry.makeSink(.object(workload.sinkConfig), context: environment.storedContext)
        } catch {
            throw Quarantine(description: "its stored configuration cannot be loaded: \(describe(error))")
        }
        var logger = self.logger
        logger[metadataKey: "workload"] = "\(workload.uuid)"
        let context = StageContext(
            workloadUUID: workload.uuid, project: workload.project, logger: logger,
            environment: environment)
        let clock = ContinuousClock()
        let deadline = clock.now + options.tickBudget
        var wake: [Date] = []

        // 1. Source
        var sourceState = workload.sourceState
        let closed = workload.stopped != nil || workload.aborted != nil
        if source.isOpen && !closed {
            do {
                let poll = try await source.poll(context, state: sourceState)
                if !poll.items.isEmpty || poll.state != sourceState {
                    try await queues.recordPoll(items: poll.items, state: poll.state)
                    sourceState = poll.state
                }
                wake.append(poll.nextPoll ?? Date())
                if let problem = poll.problem { report.errors.append("source: \(problem)") }
            } catch {
                report.errors.append("source: \(describe(error))")
            }
        }
        let sourceDone = source.isDone(state: sourceState, stopped: closed)
        if workload.aborted != nil {
            let aborted = try await queues.abortUnclaimed()
            report.changed[.aborted, default: 0] += aborted
        }

        // 2. Abort what was flagged
        do {
            try await abortFlagged(executor, context: context, report: &report)
        } catch {
            report.errors.append("executor abort: \(describe(error))")
        }

        // 3. Poll
        var nextPoll: Date?
        do {
            nextPoll = try await pollActive(executor, context: context, report: &report)
        } catch {
            report.errors.append("executor status: \(describe(error))")
        }

        // 4. Launch and deliver (first, how deliveries under way are going)
        do {
            try await checkDeliveries(sink, context: context, report: &report)
        } catch {
            report.errors.append("sink: \(describe(error))")
        }
        var submitBudget = executor.maxSubmitPerTick ?? Int.max
        var sinkHealthy = true
        var launchHealthy = true
        while true {
            var progress = false
            if launchHealthy {
                do {
                    let moved = try await launchRound(
                        executor, context: context, aborted: workload.aborted != nil,
                        submitBudget: &submitBudget, report: &report)
                    progress = progress || moved
                } catch {
                    report.errors.append("executor launch: \(describe(error))")
                    launchHealthy = false
                }
            }
            if sinkHealthy {
                do {
                    let moved = try await deliverRound(sink, context: context, report: &report)
                    progress = progress || moved
                } catch {
                    report.errors.append("sink: \(describe(error))")
                    sinkHealthy = false
                }
            }
            if !progress { break }
            if clock.now >= deadline {
                wake.append(Date())  // more to do: come back on the next pass
                break
            }
        }

        // 5. Finish, or decide when to look again
        try await logEvents(report)
        let inFlight = try await queues.inFlight()
        // The finish check (a short transaction) only when nothing is pending or running.
        if inFlight.pending + inFlight.active == 0,
            try await queues.finishIfDone(sourceDone: sourceDone, ignoreUnconsumedItems: workload.aborted != nil)
        {
            report.finished = true
            logger.info("workload finished")
        } else {
            if report.launched > 0 || report.claimed > 0 { wake.append(Date()) }
            if inFlight.active > 0 { wake.append(nextPoll ?? Date()) }
            if inFlight.delivering > 0 { wake.append(Date()) }
            if let backoff = inFlight.nextBackoffDue { wake.append(backoff) }
            // A safety net: a workload with nothing scheduled is still looked at now and then;
            // and however far a stage asks to sleep, the workload is looked at within a day.
            let latest = Date().addingTimeInterval(86_400)
            try await queues.setWake(min(wake.min() ?? Date().addingTimeInterval(60), latest))
        }
        if report.errors.isEmpty {
            if workload.errorCount > 0 { try await queues.recordSuccess() }
        } else {
            throw LauncherError(.unavailable, report.errors.joined(separator: "; "))
        }
        return report
    }

    private func abortFlagged(_ executor: any Executor, context: StageContext, report: inout TickReport) async throws {
        while true {
            let flagged = try await queues.abortRequested(limit: options.batchSize)
            if flagged.isEmpty { return }
            let updates = try await executor.abort(flagged, context: context)
            try await apply(updates, readAs: flagged, report: &report)
            // Only Aborting/Aborted leave the flagged set: go on only while whole batches move.
            let moved = updates.filter { $0.status == .aborting || $0.status.isFinal }.count
            if moved < flagged.count || flagged.count < options.batchSize { return }
        }
    }

    /// Applies executor updates in one statement, each conditional on the status the workflow
    /// had when it was read; updates that change nothing are dropped.
    private func apply(_ updates: [WorkflowUpdate], readAs workflows: [ActiveWorkflow], report: inout TickReport) async throws {
        let previous = Dictionary(workflows.map { ($0.uuid, $0.status) }, uniquingKeysWith: { a, _ in a })
        let applied = try await queues.apply(
            updates.compactMap { update in
                guard let before = previous[update.uuid],
                    before != update.status || !update.details.isEmpty || update.externalID != nil
                else { return nil }
                return (previous: before, update: update)
            })
        report.changed.merge(applied, uniquingKeysWith: +)
    }

    /// Polls every active workflow, a page at a time. Returns the earliest time the executor
    /// said anything can change.
    private func pollActive(_ executor: any Executor, context: StageContext, report: inout TickReport) async throws -> Date? {
        var after: Int64?
        var hints: [Date] = []
        var sawAll = true
        while true {
            let page = try await queues.active(afterID: after, limit: options.batchSize)
            if page.isEmpty { break }
            after = page.last!.id
            let result = try await executor.poll(page.map(\.workflow), context: context)
            try await apply(result.updates, readAs: page.map(\.workflow), report: &report)
            if let hint = result.nextPoll { hints.append(hint) } else { sawAll = false }
            if page.count < options.batchSize { break }
        }
        return sawAll ? hints.min() : nil
    }

    /// Launches one batch: first Pending workflows that are due again (retries, launches that
    /// backed off, launches a crash left unrecorded), then fresh items claimed up to the
    /// executor's capacity. Returns whether anything moved.
    private func launchRound(
        _ executor: any Executor, context: StageContext, aborted: Bool,
        submitBudget: inout Int, report: inout TickReport
    ) async throws -> Bool {
        let limit = min(options.batchSize, submitBudget)
        guard limit > 0 else { return false }
        // Pending rows here were all created before this round: none is being launched now.
        let due = try await queues.launchable(limit: limit)
        var batch: [LaunchRequest] = []
        if !due.isEmpty {
            let marked = try await queues.markLaunchAttempt(due.map(\.uuid))
            batch = due.filter { marked.contains($0.uuid) }
        }
        if !aborted && batch.count < limit {
            var room = limit - batch.count
            if let maxActive = executor.maxActive {
                let inFlight = try await queues.inFlight()
                room = min(room, maxActive - inFlight.pending - inFlight.active)
            }
            if room > 0 {
                let fresh = try await queues.claimItems(limit: room, submission: UUID().uuidString.lowercased())
                report.claimed += fresh.count
                batch += fresh
            }
        }
        if batch.isEmpty { return false }
        submitBudget -= batch.count

        // The backend as a whole not answering means every workflow in the batch waits.
        let outcomes = await Self.outcomes(
            for: batch.map(\.uuid), missing: "the executor gave no answer for this workflow",
            failed: SubmitOutcome.deferred
        ) {
            let outcomes = try await executor.submit(batch, context: context)
            FaultInjection.crashPoint("after-submit")
            return outcomes
        }
        let tally = try await queues.recordLaunches(outcomes, retry: options.launchRetry)
        report.launched += tally.launched
        report.launchFailed += tally.failed + tally.gaveUp
        report.deferred += tally.deferred
        for outcome in outcomes.values {
            switch outcome {
            case .launched(let launched) where launched.status != .submitted:
                report.changed[launched.status, default: 0] += 1
            case .expanded(let expansion):
                for workflow in expansion.workflows where workflow.status.isFinal { report.changed[workflow.status, default: 0] += 1 }
            default:
                break
            }
        }
        if tally.failed + tally.gaveUp > 0 { report.changed[.failed, default: 0] += tally.failed + tally.gaveUp }
        // A batch that only deferred is not progress: the backend is struggling, so stop
        // claiming more for now (they would only be deferred too).
        return tally.launched + tally.failed + tally.gaveUp > 0
    }

    /// Asks the sink how the deliveries it started are going (once per tick).
    private func checkDeliveries(_ sink: any Sink, context: StageContext, report: inout TickReport) async throws {
        let underWay = try await queues.deliveriesUnderWay(limit: options.batchSize)
        guard !underWay.isEmpty else { return }
        let outcomes = try await sink.checkDeliveries(underWay, context: context)
        guard !outcomes.isEmpty else { return }
        let tally = try await queues.recordDeliveries(outcomes, retry: options.deliveryRetry)
        report.delivered += tally.delivered
        report.setAside += tally.setAside
    }

    private func deliverRound(_ sink: any Sink, context: StageContext, report: inout TickReport) async throws -> Bool {
        let batch = try await queues.deliverable(limit: options.batchSize)
        if batch.isEmpty { return false }
        let outcomes = await Self.outcomes(
            for: batch.map(\.uuid), missing: "the sink gave no answer for this workflow",
            failed: DeliveryOutcome.retry
        ) {
            try await sink.deliver(batch, context: context)
        }
        let tally = try await queues.recordDeliveries(outcomes, retry: options.deliveryRetry)
        report.delivered += tally.delivered
        report.setAside += tally.setAside
        if tally.retrying > 0 && tally.delivered == 0 && tally.setAside == 0 && tally.started == 0 {
            report.errors.append("sink: \(tally.lastError ?? "delivery failed"); will retry")
            return false
        }
        return tally.delivered + tally.setAside + tally.started > 0
    }

    /// A stage's answer for every member of a batch: what it said, `failed(reason)` for all
    /// when the call threw, and `failed(missing)` for any it left out.
    private static func outcomes<Outcome>(
        for uuids: [UUID], missing: String, failed: (String) -> Outcome,
        _ call: () async throws -> [UUID: Outcome]
    ) async -> [UUID: Outcome] {
        var outcomes: [UUID: Outcome]
        do {
            outcomes = try await call()
        } catch {
            let message = describe(error)
            outcomes = Dictionary(uniqueKeysWithValues: uuids.map { ($0, failed(message)) })
        }
        for uuid in uuids where outcomes[uuid] == nil { outcomes[uuid] = failed(missing) }
        return outcomes
    }

    /// A few summary events per update, never one per workflow.
    private func logEvents(_ report: TickReport) async throws {
        if report.launched > 0 {
            try await queues.addEvent(
                kind: "launched", message: "Launched \(report.launched) workflow(s)",
                data: ["count": .int(Int64(report.launched))])
        }
        let finals = WorkflowStatus.final.compactMap { status -> String? in
            guard let n = report.changed[status], n > 0 else { return nil }
            return "\(n) \(status.rawValue.lowercased())"
        }
        if !finals.isEmpty {
            var data: JSONObject = [:]
            for status in WorkflowStatus.final { if let n = report.changed[status], n > 0 { data[status.rawValue] = .int(Int64(n)) } }
            try await queues.addEvent(
                kind: "workflows", message: "Workflows finished: \(finals.joined(separator: ", "))",
                data: .object(data))
        }
        if report.deferred > 0 {
            try await queues.addEvent(
                kind: "launch-deferred", message: "\(report.deferred) launch(es) failed and will be retried",
                data: ["count": .int(Int64(report.deferred))])
        }
        if report.delivered > 0 {
            try await queues.addEvent(
                kind: "delivered", message: "Delivered \(report.delivered) workflow(s)",
                data: ["count": .int(Int64(report.delivered))])
        }
        if report.setAside > 0 {
            try await queues.addEvent(
                kind: "delivery-set-aside", message: "Set aside \(report.setAside) undeliverable workflow(s)",
                data: ["count": .int(Int64(report.setAside))])
        }
    }
}
