import Foundation
import LauncherCore
import Testing

extension Scenarios {
    /// Retry relaunches the final, newest attempts that match as new Pending attempts linked
    /// both ways; originals drop out of default listings and counts; a finished workload is
    /// reopened; nothing matching changes nothing.
    static func retrySemantics(_ h: Harness) async throws {
        let store = h.store
        let w = try await h.create(items: [
            .item(0, ["finish": "fail"]), .item(1, ["finish": "fail"]), .item(2, ["launch": "fail"]),
            .item(3), .item(4), .item(5),
        ])
        try await h.runUntilFinished(w)
        #expect(try await h.counts(w) == [.succeeded: 3, .failed: 3])
        let originals = try await h.workflows(w)
        let failedBefore = originals.filter { $0.status == .failed }
        let succeededBefore = originals.filter { $0.status == .succeeded }
        let maxID = try #require(originals.map(\.id).max())

        let created = try await h.service.retry(w.uuid, request: ["status": "failed", "overrides": ["memory": "8G"]])
        #expect(created.count == 3)
        #expect(created.map(\.id) == created.map(\.id).sorted() && created.allSatisfy { $0.id > maxID })
        #expect(created.compactMap(\.retryOf) == failedBefore.map(\.uuid), "one new attempt per original, in the originals' order")
        #expect(created.map(\.inputs) == failedBefore.map(\.inputs))
        // Any attempt is found by its uuid alone, with its workload (the workflow page, `wfl logs`).
        for workflow in [created[0], failedBefore[0]] {
            let found = try #require(try await store.workflow(uuid: workflow.uuid))
            #expect(found.workload == w.uuid && found.record.uuid == workflow.uuid && found.record.attempt == workflow.attempt)
        }
        #expect(try await store.workflow(uuid: UUID()) == nil)
        #expect(
            created.allSatisfy {
                $0.status == .pending && $0.attempt == 2 && $0.retriedBy == nil && $0.overrides == ["memory": "8G"]
                    && $0.externalID == nil && $0.submitted == nil && $0.finished == nil && $0.error == nil && $0.outputs == nil
                    && $0.consumed == nil && $0.deliveryError == nil
            })
        let submission = try #require(created.first?.submission)
        #expect(
            UUID(uuidString: submission) != nil && created.allSatisfy { $0.submission == submission },
            "a retry is a submission of its own, with a UUID")

        let reopened = try await h.reload(w)
        #expect(reopened.finished == nil && reopened.state == "Running")
        #expect(try await h.due().contains(w.id), "a reopened workload is due at once")
        #expect(try await h.counts(w) == [.succeeded: 3, .pending: 3], "counts are of newest attempts")

        // Listings show the newest attempts unless asked for every attempt.
        #expect(try await h.workflows(w).count == 6)
        let everything = try await h.workflows(w, WorkflowFilter(includeRetried: true))
        #expect(everything.count == 9)
        let linked = everything.filter { $0.retriedBy != nil }
        #expect(linked.map(\.uuid) == failedBefore.map(\.uuid))
        #expect(linked.allSatisfy { $0.status == .failed && $0.attempt == 1 }, "an original keeps its own record")
        for original in linked {
            #expect(created.contains { $0.uuid == original.retriedBy && $0.retryOf == original.uuid })
        }
        #expect(try await h.workflows(w, WorkflowFilter(statuses: [.failed])).isEmpty)
        #expect(try await h.workflows(w, WorkflowFilter(statuses: [.failed], includeRetried: true)).count == 3)
        #expect(try await h.workflows(w, WorkflowFilter(statuses: [.succeeded, .pending])).count == 6)
        #expect(try await h.workflows(w, WorkflowFilter(submission: submission)).map(\.uuid) == created.map(\.uuid))
        #expect(try await h.workflows(w, WorkflowFilter(uuids: [failedBefore[0].uuid])).isEmpty)
        #expect(try await h.workflows(w, WorkflowFilter(uuids: [failedBefore[0].uuid], includeRetried: true)).count == 1)

        let retried = try #require(try await h.events(w).last)
        #expect(retried.kind == "retried" && retried.message == "Retrying 3 workflow(s); workload active again")
        #expect(retried.data == ["count": 3, "overrides": ["memory": "8G"]])

        // Nothing final and newest matches: nothing is written.
        let eventCount = try await h.events(w).count
        #expect(try await store.retry(workloadID: w.id, filter: WorkflowFilter(statuses: [.failed]), overrides: [:], by: "test").isEmpty)
        #expect(
            try await store.retry(
                workloadID: w.id, filter: WorkflowFilter(statuses: [.failed], includeRetried: true), overrides: [:], by: "test"
            )
            .isEmpty,
            "a retried attempt is never retried again")
        #expect(
            try await store.retry(workloadID: w.id, filter: WorkflowFilter(statuses: [.pending]), overrides: [:], by: "test").isEmpty,
            "only final workflows are retried")
        #expect(
            try await store.retry(workloadID: w.id, filter: WorkflowFilter(uuids: [created[0].uuid]), overrides: [:], by: "test").isEmpty)
        #expect(try await h.events(w).count == eventCount)
        #expect(try await h.workflows(w, WorkflowFilter(includeRetried: true)).count == 9)
        await #expect(throws: LauncherError.self) { try await h.service.retry(w.uuid, request: ["status": "Failed"]) }

        // The new attempts launch with their attempt number and overrides.
        try await h.runUntilFinished(w)
        #expect(try await h.counts(w) == [.succeeded: 3, .failed: 3])
        for attempt in created {
            let submits = h.backend.submits(attempt.uuid)
            #expect(submits.count == 1)
            #expect(submits.first?.attempt == 2 && submits.first?.overrides == ["memory": "8G"] && submits.first?.mayExist == false)
        }
        #expect(try await h.workflows(w, WorkflowFilter(statuses: [.failed])).allSatisfy { $0.attempt == 2 })
        #expect(try await h.events(w).filter { $0.kind == "finished" }.count == 2)

        // By uuid, a succeeded one; while the workload is active, another (no "active again").
        let one = try await store.retry(
            workloadID: w.id, filter: WorkflowFilter(uuids: [succeededBefore[0].uuid]), overrides: [:], by: "test")
        #expect(one.count == 1 && one[0].retryOf == succeededBefore[0].uuid && one[0].attempt == 2 && one[0].overrides.isEmpty)
        #expect(try await h.reload(w).finished == nil)
        let two = try await store.retry(
            workloadID: w.id, filter: WorkflowFilter(uuids: [succeededBefore[1].uuid]), overrides: [:], by: "test")
        #expect(two.count == 1 && two[0].submission != one[0].submission, "each retry is its own submission")
        let second = try #require(try await h.events(w).last)
        #expect(second.kind == "retried" && second.message == "Retrying 1 workflow(s)")
        #expect(second.data == ["count": 1, "overrides": nil])
        #expect(
            try await store.retry(workloadID: w.id, filter: WorkflowFilter(uuids: [succeededBefore[0].uuid]), overrides: [:], by: "test")
                .isEmpty)
        try await h.runUntilFinished(w)
        #expect(try await h.counts(w) == [.succeeded: 3, .failed: 3])

        // By submission (the retry's own), and filters combine.
        let third = try await store.retry(
            workloadID: w.id, filter: WorkflowFilter(submission: one[0].submission), overrides: [:], by: "test")
        #expect(third.count == 1 && third[0].attempt == 3 && third[0].retryOf == one[0].uuid)
        #expect(
            try await store.retry(
                workloadID: w.id, filter: WorkflowFilter(statuses: [.failed], submission: two[0].submission),
                overrides: [:], by: "test"
            ).isEmpty, "status and submission must both match")
        try await h.runUntilFinished(w)
        #expect(try await h.counts(w) == [.succeeded: 3, .failed: 3])
        #expect(try await h.workflows(w).count == 6)
        #expect(try await h.workflows(w, WorkflowFilter(includeRetried: true)).count == 12)
    }

    /// markAborted: unclaimed items become Aborted workflows, Pending workflows no launch
    /// attempt reached are Aborted at once, the rest are flagged for the updater, which
    /// aborts them at the backend and finishes the workload; a retry can run them all again.
    static func abortUnclaimedAndPending(_ h: Harness) async throws {
        let store = h.store
        let parts = h.parts(options: Harness.options(launchRetry: RetryPolicy(attempts: 5, initialDelay: 600, maxDelay: 600)))
        let w = try await h.create(
            items: [
                .item(0, ["launch": "fail"]), .item(1, ["finish": "stay"]), .item(2, ["launch": "defer"]),
                .item(3), .item(4),
            ],
            executor: ["maxActive": 2])
        let first = try await h.tick(w, with: parts)
        #expect(first.claimed == 3, "maxActive keeps the last two items unclaimed")
        let running = try await h.workflow(w, n: 1), pending = try await h.workflow(w, n: 2)
        #expect(running.status == .running && pending.status == .pending)
        let failed = try await h.workflow(w, n: 0)
        let unlaunched = try #require(
            try await store.retry(workloadID: w.id, filter: WorkflowFilter(uuids: [failed.uuid]), overrides: [:], by: "test").first)

        let marked = try await store.markAborted(workloadID: w.id, by: "test")
        #expect(marked.aborted != nil && marked.stopped != nil && marked.finished == nil && marked.state == "Aborting")
        for n in [3, 4] {
            let item = try await h.workflow(w, n: n)
            #expect(item.status == .aborted && item.error == WorkflowError("aborted before it was launched"))
            #expect(item.error?.kind == .workflow && item.submitted == nil && item.finished != nil && item.attempt == 1)
            #expect(item.externalID == nil && item.submission == nil && item.retryOf == nil)
        }
        let abortedAtOnce = try await h.workflow(w, unlaunched.uuid)
        #expect(abortedAtOnce.status == .aborted && abortedAtOnce.finished != nil && abortedAtOnce.attempt == 2)
        #expect(try await h.workflow(w, running.uuid).status == .running)
        #expect(try await h.workflow(w, pending.uuid).status == .pending, "a launch attempt may have reached the backend")
        #expect(try await h.counts(w) == [.running: 1, .pending: 1, .aborted: 3])
        let event = try #require(try await h.events(w).last)
        #expect(event.kind == "aborted" && event.message == "Workload aborted: 2 workflow(s) to abort at the backend, 3 never launched")
        #expect(event.data == ["toAbort": 2, "neverLaunched": 3])

        try await h.queues(w) { queues async throws in
            let flagged = try await queues.abortRequested(limit: 10)
            #expect(flagged.map(\.uuid) == [running.uuid, pending.uuid] && flagged.map(\.status) == [.running, .pending])
            #expect(try await queues.abortRequested(limit: 1).map(\.uuid) == [running.uuid])
            #expect(try await queues.launchable(limit: 10).isEmpty, "a flagged workflow is not launched")
            #expect(try await queues.markLaunchAttempt([pending.uuid]).isEmpty)
            // Items that still arrive are never claimed, only aborted.
            try await queues.recordPoll(items: [.object(.item(5))], state: 1)
            #expect(try await queues.claimItems(limit: 10, submission: "late").isEmpty)
            #expect(try await queues.abortUnclaimed() == 1)
            #expect(try await queues.abortUnclaimed() == 0)
            return ()
        }
        #expect(try await h.reload(w).sourceState == 1)
        #expect(try await h.counts(w) == [.running: 1, .pending: 1, .aborted: 4])

        // Again before it finished: the first abort time stands, nothing more is flagged.
        let again = try await store.markAborted(workloadID: w.id, by: "test")
        #expect(again.aborted == marked.aborted && again.stopped == marked.stopped)
        #expect(try await h.events(w).last?.message == "Workload aborted: 0 workflow(s) to abort at the backend, 0 never launched")

        let report = try await h.tick(w, with: parts)
        #expect(report.finished && report.changed[.aborted] == 2)
        #expect(Set(h.backend.aborted) == [running.uuid, pending.uuid])
        #expect(h.backend.submits(pending.uuid).count == 1, "never launched again")
        let done = try await h.reload(w)
        #expect(done.state == "Aborted" && done.finished != nil)
        #expect(try await h.counts(w) == [.aborted: 6])
        let eventCount = try await h.events(w).count
        let afterFinish = try await store.markAborted(workloadID: w.id, by: "test")
        #expect(afterFinish.finished == done.finished && afterFinish.aborted == done.aborted)
        #expect(try await h.events(w).count == eventCount, "a finished workload is not aborted again")

        // Retry relaunches every aborted workflow and clears the abort; the workload stays stopped.
        let retried = try await h.service.retry(w.uuid, request: ["status": "Aborted"])
        #expect(retried.count == 6)
        let reopened = try await h.reload(w)
        #expect(reopened.aborted == nil && reopened.finished == nil && reopened.stopped != nil && reopened.state == "Stopped")
        #expect(try await h.counts(w) == [.pending: 6])

        // Through the service: the abort completes at once when the lock is free.
        let s = try await h.create(
            items: [.item(0, ["finish": "stay"]), .item(1, ["finish": "stay"]), .item(2)], executor: ["maxActive": 2])
        try await h.tick(s)
        #expect(try await h.counts(s) == [.running: 2])
        let view = try await h.service.abort(s.uuid)
        #expect(view.record.state == "Aborted" && view.counts == [.aborted: 3])
        #expect(try await h.workflow(s, n: 2).error?.message == "aborted before it was launched")
        #expect(try await h.workflow(s, n: 0).submitted != nil)
    }
}
