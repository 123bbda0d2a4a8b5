import Foundation
import LauncherCore
import Testing

extension Scenarios {
    /// A deferred launch stays Pending with an infrastructure error, waits
    /// `retry.delay(afterFailure: launchAttempts)`, is offered again once due (as one that may
    /// exist at the backend), and after the policy's last attempt fails as an infrastructure
    /// error that says so.
    static func deferredLaunchesBackOffThenGiveUp(_ h: Harness) async throws {
        let slow = RetryPolicy(attempts: 3, initialDelay: 60, multiplier: 2, maxDelay: 1000)
        let slowParts = h.parts(options: Harness.options(launchRetry: slow))
        let w = try await h.create(items: [.item(0, ["launch": "defer"]), .item(1)])
        let beforeFirst = Date()
        let first = try await h.tick(w, with: slowParts)
        #expect(first.claimed == 2 && first.launched == 1 && first.deferred == 1 && first.launchFailed == 0)
        let deferred = try await h.workflow(w, n: 0)
        #expect(deferred.status == .pending && deferred.finished == nil && deferred.submitted == nil)
        #expect(deferred.error == .infrastructure("launch attempt 1 failed, will retry: backend busy"))
        #expect(try await h.counts(w) == [.pending: 1, .running: 1])
        let flight = try await h.queues(w) { try await $0.inFlight() }
        #expect(flight.pending == 1 && flight.active == 1)
        #expect(
            between(
                flight.nextBackoffDue, beforeFirst.addingTimeInterval(slow.delay(afterFailure: 1)),
                Date().addingTimeInterval(slow.delay(afterFailure: 1))),
            "\(String(describing: flight.nextBackoffDue))")
        #expect(try await h.queues(w) { try await $0.launchable(limit: 10) }.isEmpty, "a deferred launch waits out its backoff")
        #expect(try await h.events(w).contains { $0.kind == "launch-deferred" && $0.message == "1 launch(es) failed and will be retried" })

        let second = try await h.tick(w, with: slowParts)
        #expect(second.launched == 0 && second.deferred == 0)
        #expect(h.backend.submits(deferred.uuid).count == 1, "not relaunched before its backoff is over")

        // Each further failure waits longer; the last attempt gives up.
        try await h.queues(w) { queues async throws in
            let beforeAgain = Date()
            #expect(try await queues.markLaunchAttempt([deferred.uuid]) == [deferred.uuid], "attempt 2")
            let again = try await queues.recordLaunches([deferred.uuid: .deferred("still busy")], retry: slow)
            #expect(again.deferred == 1 && again.gaveUp == 0 && again.lastError == "still busy")
            let waiting = try await queues.inFlight()
            #expect(
                between(
                    waiting.nextBackoffDue, beforeAgain.addingTimeInterval(slow.delay(afterFailure: 2)),
                    Date().addingTimeInterval(slow.delay(afterFailure: 2))),
                "\(String(describing: waiting.nextBackoffDue))")
            #expect(try await queues.markLaunchAttempt([deferred.uuid]) == [deferred.uuid], "attempt 3")
            let last = try await queues.recordLaunches([deferred.uuid: .deferred("still busy")], retry: slow)
            #expect(last.gaveUp == 1 && last.deferred == 0 && last.failed == 0)
            let after = try await queues.inFlight()
            #expect(after.pending == 0 && after.nextBackoffDue == nil)
            return ()
        }
        let gaveUp = try await h.workflow(w, n: 0)
        #expect(gaveUp.status == .failed && gaveUp.finished != nil)
        #expect(gaveUp.error == .infrastructure("gave up after 3 launch attempts: still busy"))
        #expect(try await h.counts(w) == [.succeeded: 1, .failed: 1])
        #expect(try await h.runUntilFinished(w).finished != nil)

        // Through the updater with no backoff: offered again on the next update, as a launch
        // that may have reached the backend; one recovers, one runs out of attempts.
        let quick = RetryPolicy(attempts: 2, initialDelay: 0, maxDelay: 0)
        let quickParts = h.parts(options: Harness.options(launchRetry: quick))
        let v = try await h.create(items: [.item(0, ["launch": "defer"]), .item(1, ["deferTimes": 1])])
        let r1 = try await h.tick(v, with: quickParts)
        #expect(r1.deferred == 2 && r1.launched == 0)
        let r2 = try await h.tick(v, with: quickParts)
        #expect(r2.launched == 1 && r2.launchFailed == 1 && r2.deferred == 0)
        let recovered = try await h.workflow(v, n: 1)
        #expect(recovered.status == .running && recovered.attempt == 1)
        #expect(h.backend.submits(recovered.uuid).map(\.mayExist) == [false, true])
        let failed = try await h.workflow(v, n: 0)
        #expect(failed.status == .failed && failed.error == .infrastructure("gave up after 2 launch attempts: backend busy"))
        #expect(h.backend.submits(failed.uuid).count == 2)
        let done = try await h.runUntilFinished(v)
        #expect(done.finished != nil)
        #expect(try await h.counts(v) == [.succeeded: 1, .failed: 1])

        // A backend that does not answer at all defers the whole batch.
        h.backend.setLaunchDown(true)
        let x = try await h.create(items: [.item(0), .item(1)])
        #expect(try await h.tick(x, with: quickParts).deferred == 2)
        #expect(
            try await h.workflows(x).allSatisfy {
                $0.status == .pending
                    && $0.error == .infrastructure("launch attempt 1 failed, will retry: connection refused (contract backend is down)")
            })
        h.backend.setLaunchDown(false)
        try await h.runUntilFinished(x)
        #expect(try await h.counts(x) == [.succeeded: 2])
        #expect(try await h.workflows(x).allSatisfy { $0.error == nil }, "a launch that went through clears the deferral's error")
    }

    /// An expanded launch replaces its Pending placeholder by the workflows it became, in the
    /// placeholder's submission and attempt, and they run like any other.
    static func expansionReplacesItsPlaceholder(_ h: Harness) async throws {
        let w = try await h.create(items: [
            .item(0, ["launch": "expand", "rows": 3]), .item(1, ["launch": "expand", "rows": 0]), .item(2),
        ])
        let report = try await h.tick(w)
        #expect(report.claimed == 3)
        try await h.contract.checking(.launchTallyCountsExpansionsWithLaunches) { () async throws in
            #expect(report.launched == 4, "3 expanded + 1 launched")
            #expect(try await h.events(w).first { $0.kind == "launched" }?.message == "Launched 4 workflow(s)")
        }
        let placeholders = Set(h.backend.allSubmits.keys)
        #expect(placeholders.count == 3)
        let all = try await h.workflows(w, WorkflowFilter(includeRetried: true))
        #expect(all.count == 4, "placeholders replaced: 3 + 0 expanded, 1 launched")
        #expect(all.map(\.id) == all.map(\.id).sorted())
        let launched = try await h.workflow(w, n: 2)
        #expect(launched.status == .running && placeholders.contains(launched.uuid))
        #expect(all.first?.uuid == launched.uuid, "expanded workflows are new rows")
        let expanded = all.filter { $0.inputs["row"] != nil }
        #expect(expanded.count == 3 && expanded.allSatisfy { !placeholders.contains($0.uuid) })
        #expect(expanded.map { $0.inputs["row"] } == [0, 1, 2])
        #expect(expanded.map { $0.details["entity"] } == ["e0", "e1", "e2"])
        #expect(expanded.allSatisfy { $0.status == .queued && $0.externalID == nil && $0.attempt == 1 && $0.submitted != nil })
        #expect(expanded.allSatisfy { $0.retryOf == nil && $0.finished == nil })
        let submission = try #require(expanded.first?.submission)
        #expect(submission.hasPrefix("exp-") && expanded.allSatisfy { $0.submission == submission })
        #expect(try await h.counts(w) == [.queued: 3, .running: 1])
        let flight = try await h.queues(w) { try await $0.inFlight() }
        #expect(flight.pending == 0 && flight.active == 4)

        try await h.tick(w)
        #expect(
            try await h.workflows(w).filter { $0.inputs["row"] != nil }.allSatisfy {
                $0.status == .running && $0.externalID?.hasPrefix("wf-") == true
            })
        let done = try await h.runUntilFinished(w)
        #expect(done.finished != nil)
        #expect(try await h.counts(w) == [.succeeded: 4])
        #expect(try await h.workflows(w).allSatisfy { $0.consumed != nil })
    }

    /// Two updaters (two sets of parts, as two processes would have) running passes at once
    /// launch every item exactly once.
    static func concurrentUpdatersNeverLaunchTwice(_ h: Harness) async throws {
        let items = (0..<40).map { JSONObject.item($0) }
        let w = try await h.create(items: items)
        let one = h.parts(options: Harness.options(batchSize: 5)).updater
        let two = h.parts(options: Harness.options(batchSize: 5)).updater
        let deadline = ContinuousClock.now + .seconds(60)
        while try await h.reload(w).finished == nil {
            guard ContinuousClock.now < deadline else { throw ContractFailure("did not finish; counts \(try await h.counts(w))") }
            async let a = one.runPass()
            async let b = two.runPass()
            let (pa, pb) = await (a, b)
            #expect(pa.failed == 0 && pb.failed == 0)
        }
        let workflows = try await h.workflows(w)
        #expect(workflows.count == 40)
        #expect(Set(workflows.compactMap { $0.inputs["n"]?.intValue }) == Set(0..<40))
        let submits = h.backend.allSubmits
        #expect(submits.count == 40 && submits.values.allSatisfy { $0.count == 1 }, "an item launched twice")
        #expect(try await h.counts(w) == [.succeeded: 40])
        #expect(h.backend.deliveredCount == 40)
    }
}
