import Foundation
import LauncherCore
import Testing

extension Scenarios {
    /// Create writes the workload, its items and its events; listings page by project in id
    /// order; counts are empty until workflows exist; start and stop are conditional.
    static func createCountsAndListing(_ h: Harness) async throws {
        let store = h.store
        // The ping gives up after 900 ms by design (for /health); a loaded machine may need a second go.
        var answered = false
        for _ in 0..<5 where !answered { answered = (try? await store.ping()) != nil }
        #expect(answered, "the store never answered a ping")
        let before = Date()
        let a = try await h.create(project: "alpha", items: [.item(0), .item(1), .item(2)], labels: ["team:x"], start: false)
        let b = try await h.create(project: "beta", items: [.item(0)])
        let c = try await h.create(project: "alpha")
        let d = try await h.create(project: "alpha", items: [.item(0, ["finish": "stay"])])

        #expect(a.id < b.id && b.id < c.id && c.id < d.id, "workload ids ascend in creation order")
        #expect(a.state == "Created" && a.started == nil && a.stopped == nil && a.finished == nil)
        let after = Date()
        #expect(b.state == "Running" && between(b.started, before, after))
        #expect(between(a.created, before, after) && a.errorCount == 0 && a.lastError == nil && a.quarantinedAt == nil)

        let stored = try #require(try await store.workload(uuid: a.uuid))
        #expect(stored.id == a.id && stored.project == "alpha" && stored.creator == "contract")
        #expect(stored.labels == ["project:alpha", "team:x"])
        #expect(stored.executorConfig["name"] == "ContractExecutor" && stored.sinkConfig["name"] == "ContractSink")
        #expect(stored.sourceConfig["itemCount"] == 3 && stored.sourceConfig["items"] == nil)
        #expect(stored.sourceState == .null && stored.version == LauncherVersion.current && stored.started == nil)
        #expect(try await store.workload(uuid: UUID()) == nil)

        // Listings: creation order, optionally one project, after a cursor, up to a limit.
        #expect(try await store.workloads(project: nil, afterID: nil, limit: 100).map(\.id) == [a.id, b.id, c.id, d.id])
        #expect(try await store.workloads(project: "alpha", afterID: nil, limit: 100).map(\.id) == [a.id, c.id, d.id])
        #expect(try await store.workloads(project: "alpha", afterID: a.id, limit: 1).map(\.id) == [c.id])
        #expect(try await store.workloads(project: nil, afterID: d.id, limit: 100).isEmpty)
        #expect(try await store.workloads(project: "gamma", afterID: nil, limit: 100).isEmpty)
        let first = try await h.service.workloads(project: "alpha", cursor: nil, limit: 2)
        #expect(first.items.map(\.record.id) == [a.id, c.id])
        let cursor = try #require(first.nextCursor)
        let second = try await h.service.workloads(project: "alpha", cursor: cursor, limit: 2)
        #expect(second.items.map(\.record.id) == [d.id] && second.nextCursor == nil)

        // Items are not workflows: nothing to count until the updater claims them.
        #expect(try await store.statusCounts(workloadIDs: [a.id, b.id, c.id, d.id]).isEmpty)
        #expect(try await store.statusCounts(workloadIDs: []).isEmpty)
        try await h.tick(b)
        try await h.tick(d)
        let counts = try await store.statusCounts(workloadIDs: [a.id, b.id, d.id, 999_999])
        #expect(counts == [b.id: [.running: 1], d.id: [.running: 1]], "\(counts)")

        // Events: created (with the item count and creator), started with exec.
        let aEvents = try await h.events(a)
        #expect(aEvents.map(\.kind) == ["created"])
        #expect(aEvents.first?.message == "Workload created with 3 item(s)")
        #expect(aEvents.first?.data == ["creator": "contract"])
        #expect(try await h.events(b).prefix(2).map(\.kind) == ["created", "started"])
        #expect(try await h.events(c).map(\.message) == ["Workload created with 0 item(s)", "Workload started"])

        // Start: sets started once; a second start changes nothing and logs nothing.
        let started = try await store.start(workloadID: a.id, by: "test")
        #expect(started.state == "Running" && started.started != nil)
        let again = try await store.start(workloadID: a.id, by: "test")
        #expect(again.started == started.started)
        #expect(try await h.events(a).map(\.kind) == ["created", "started"])

        // Stop: only a started, unstopped, unfinished workload; once.
        let unstarted = try await h.create(project: "beta", start: false)
        #expect(try await store.stop(workloadID: unstarted.id, by: "test").stopped == nil)
        #expect(try await h.events(unstarted).map(\.kind) == ["created"])
        let stopped = try await store.stop(workloadID: d.id, by: "test")
        #expect(stopped.state == "Stopped" && stopped.stopped != nil)
        #expect(try await store.stop(workloadID: d.id, by: "test").stopped == stopped.stopped)
        #expect(try await h.events(d).filter { $0.kind == "stopped" }.map(\.message) == ["Workload stopped: the source takes no new items"])
        let finished = try await h.runUntilFinished(b)
        #expect(try await store.stop(workloadID: b.id, by: "test").stopped == nil, "a finished workload is not stopped")
        #expect(finished.state == "Finished")
        await #expect(throws: LauncherError.self) { try await h.service.stop(unstarted.uuid) }

        // Filters by state, label and creator, read from the stored timestamps and columns.
        let p = try await h.create(project: "filters", labels: ["team:y"], start: false)
        let q = try await h.create(project: "filters", items: [.item(0, ["finish": "stay"])])
        let r = try await h.create(project: "filters", items: [.item(0, ["finish": "stay"])])
        let t = try await h.create(project: "filters", items: [.item(0, ["finish": "stay"])])
        _ = try await h.service.stop(r.uuid)
        func ids(_ state: WorkloadState? = nil, label: String? = nil, creator: String? = nil) async throws -> [Int64] {
            try await store.workloads(
                filter: WorkloadFilter(project: "filters", state: state, label: label, creator: creator), afterID: nil, limit: 100
            ).map(\.id)
        }
        #expect(try await ids(.created) == [p.id])
        #expect(try await ids(.running) == [q.id, t.id])
        #expect(try await ids(.stopped) == [r.id])
        #expect(try await ids(.finished).isEmpty)
        #expect(try await ids(.aborted).isEmpty)
        #expect(try await ids(label: "team:y") == [p.id])
        #expect(try await ids(label: "project:filters") == [p.id, q.id, r.id, t.id])
        #expect(try await ids(label: "team").isEmpty, "a label matches whole")
        #expect(try await ids(.running, creator: "contract") == [q.id, t.id])
        #expect(try await ids(creator: "someone else").isEmpty)
        let byState = try await h.service.workloads(project: "filters", state: "RUNNING", cursor: nil, limit: 1)
        #expect(byState.items.map(\.record.id) == [q.id] && byState.nextCursor != nil)
        let rest = try await h.service.workloads(project: "filters", state: "running", cursor: byState.nextCursor, limit: 10)
        #expect(rest.items.map(\.record.id) == [t.id] && rest.nextCursor == nil)
        do {
            _ = try await h.service.workloads(project: nil, state: "Sleeping", cursor: nil, limit: 10)
            Issue.record("an unknown state was accepted")
        } catch let error as LauncherError {
            #expect(error.kind == .badRequest && error.details["field"] == "state", "\(error)")
        }

        // Orders: newest first and by project, paged by cursor without gaps or repeats.
        let sortA = try await h.create(project: "sort-b", start: false)
        let sortB = try await h.create(project: "sort-a", start: false)
        let sortC = try await h.create(project: "sort-b", labels: ["sort:yes"], start: false)
        let sortD = try await h.create(project: "sort-a", labels: ["sort:yes"], start: false)
        _ = sortC
        func walk(_ sort: String, label: String? = nil) async throws -> [Int64] {
            var ids: [Int64] = []
            var cursor: String?
            repeat {
                let page = try await h.service.workloads(project: nil, label: label, sort: sort, cursor: cursor, limit: 1)
                ids += page.items.map(\.record.id)
                cursor = page.nextCursor
            } while cursor != nil && ids.count < 100
            return ids.filter { [sortA.id, sortB.id, sortC.id, sortD.id].contains($0) }
        }
        #expect(try await walk("oldest") == [sortA.id, sortB.id, sortC.id, sortD.id])
        #expect(try await walk("NEWEST") == [sortD.id, sortC.id, sortB.id, sortA.id])
        #expect(try await walk("project") == [sortB.id, sortD.id, sortA.id, sortC.id])
        #expect(try await walk("project", label: "sort:yes") == [sortD.id, sortC.id])
        do {
            _ = try await h.service.workloads(project: nil, sort: "size", cursor: nil, limit: 10)
            Issue.record("an unknown order was accepted")
        } catch let error as LauncherError {
            #expect(error.kind == .badRequest && error.details["field"] == "sort" && error.message.contains("oldest, newest, project"))
        }
    }

    /// The chain end to end: items are claimed into Pending workflows, launched, polled to a
    /// final status, succeeded ones delivered, and the workload finishes once nothing is left.
    static func claimLaunchPollDeliverFinish(_ h: Harness) async throws {
        let w = try await h.create(items: [
            .item(0), .item(1, ["finish": "fail"]), .item(2, ["launch": "succeed"]), .item(3, ["launch": "fail"]),
        ])
        let first = try await h.tick(w)
        #expect(first.claimed == 4)
        #expect(first.launched == 3, "launched outcomes, whatever status they launched in")
        #expect(first.launchFailed == 1)
        #expect(first.delivered == 1, "the workflow that succeeded at launch is delivered in the same update")
        #expect(first.changed == [.running: 2, .succeeded: 1, .failed: 1], "\(first.changed)")
        #expect(!first.finished)

        let launched = try await h.workflows(w)
        #expect(launched.count == 4)
        #expect(launched.map(\.id) == launched.map(\.id).sorted())
        #expect(launched.map { $0.inputs["n"] } == [0, 1, 2, 3], "claimed in item order")
        #expect(
            Set(launched.compactMap(\.submission)).count == 1 && launched.allSatisfy { $0.submission != nil },
            "one claim, one submission")
        #expect(launched.allSatisfy { $0.attempt == 1 && $0.retryOf == nil && $0.retriedBy == nil })
        let w0 = try await h.workflow(w, n: 0), w1 = try await h.workflow(w, n: 1)
        let w2 = try await h.workflow(w, n: 2), w3 = try await h.workflow(w, n: 3)
        #expect(w0.status == .running && w0.externalID == "ext-\(w0.uuid.uuidString.lowercased())")
        #expect(w0.submitted != nil && w0.finished == nil && w0.details["finish"] == "succeed" && w0.outputs == nil)
        #expect(w1.status == .running)
        #expect(w2.status == .succeeded && w2.outputs == ["result": 2] && w2.finished != nil && w2.consumed != nil)
        #expect(w2.json["delivered"] == true)
        #expect(w3.status == .failed && w3.error == WorkflowError("refused by the backend") && w3.submitted == nil && w3.finished != nil)
        #expect(w3.consumed == nil, "failed workflows are not delivered")
        #expect(try await h.counts(w) == [.running: 2, .succeeded: 1, .failed: 1])
        let flight = try await h.queues(w) { try await $0.inFlight() }
        #expect(flight.pending == 0 && flight.active == 2 && flight.delivering == 0)
        for request in launched.flatMap({ h.backend.submits($0.uuid) }) {
            #expect(!request.mayExist && request.attempt == 1 && request.overrides.isEmpty)
        }
        #expect(h.backend.submits(w0.uuid).first?.inputs == w0.inputs)

        let second = try await h.tick(w)
        #expect(second.changed == [.succeeded: 1, .failed: 1] && second.delivered == 1 && second.finished)
        let done = try await h.reload(w)
        #expect(done.state == "Finished" && done.finished != nil)
        #expect(try await h.counts(w) == [.succeeded: 2, .failed: 2])
        let polled = try await h.workflow(w, n: 0)
        #expect(polled.status == .succeeded && polled.outputs == ["out": .string(polled.externalID ?? "")])
        #expect(polled.submitted == w0.submitted, "a poll keeps the launch time")
        #expect(polled.consumed != nil && polled.deliveryError == nil && polled.json["delivered"] == true)
        let failed = try await h.workflow(w, n: 1)
        #expect(failed.status == .failed && failed.error?.message == "the workflow failed" && failed.error?.kind == .workflow)
        #expect(h.backend.deliveries(w0.uuid).count == 1 && h.backend.deliveries(w2.uuid).count == 1)
        #expect(h.backend.deliveries(w1.uuid).isEmpty && h.backend.deliveries(w3.uuid).isEmpty)
        let delivered = try #require(h.backend.deliveries(w2.uuid).first)
        #expect(delivered.outputs == ["result": 2] && delivered.inputs == w2.inputs && delivered.attempt == 1)
        #expect(delivered.status == .succeeded && delivered.externalID == w2.externalID && delivered.submission == w2.submission)

        let kinds = try await h.events(w).map(\.kind)
        #expect(kinds.first == "created" && kinds.last == "finished")
        #expect(kinds.filter { $0 == "finished" }.count == 1)
        for kind in ["started", "launched", "workflows", "delivered"] { #expect(kinds.contains(kind), "no \(kind) event in \(kinds)") }
        #expect(try await h.events(w).first { $0.kind == "launched" }?.message == "Launched 3 workflow(s)")

        // A finished workload is left alone.
        #expect(!(try await h.due()).contains(w.id))
        let idle = try await h.tick(w)
        #expect(idle.claimed == 0 && idle.launched == 0 && !idle.finished)
        #expect(try await h.events(w).map(\.kind) == kinds)
    }

    /// Every change the queues make is conditional on the state it expects: stale updates,
    /// repeated outcomes and finished rows are left as they are.
    static func conditionalStateChanges(_ h: Harness) async throws {
        let w = try await h.create(items: [.item(0), .item(1), .item(2)])
        try await h.queues(w) { queues async throws in
            let claimed = try await queues.claimItems(limit: 2, submission: "batch-1")
            #expect(claimed.map { $0.inputs["n"] } == [0, 1])
            #expect(claimed.allSatisfy { $0.attempt == 1 && !$0.mayExist && $0.submission == "batch-1" && $0.overrides.isEmpty })
            let rest = try await queues.claimItems(limit: 5, submission: "batch-2")
            #expect(rest.map { $0.inputs["n"] } == [2])
            #expect(try await queues.claimItems(limit: 5, submission: "batch-3").isEmpty, "an item is claimed once")
            var flight = try await queues.inFlight()
            #expect(flight.pending == 3 && flight.active == 0 && flight.nextBackoffDue == nil)

            // A claim records the launch attempt it is about to make: a Pending workflow whose
            // outcome was never recorded is launchable again, and may exist at the backend.
            let unrecorded = try await queues.launchable(limit: 10)
            #expect(unrecorded.map(\.uuid) == (claimed + rest).map(\.uuid))
            #expect(unrecorded.allSatisfy { $0.mayExist })
            #expect(try await queues.launchable(limit: 1).map(\.uuid) == [claimed[0].uuid])

            let (u0, u1, u2) = (claimed[0].uuid, claimed[1].uuid, rest[0].uuid)
            #expect(try await queues.markLaunchAttempt([u0, u1, UUID()]) == [u0, u1])
            #expect(try await queues.markLaunchAttempt([]) == [])
            let tally = try await queues.recordLaunches(
                [
                    u0: .launched(Launched(externalID: "x-0", submission: "backend-sub", details: ["a": 1])),
                    u1: .failed(WorkflowError("no such partition")),
                    u2: .launched(Launched(externalID: "", status: .succeeded, outputs: ["o": 2])),
                ], retry: .launches)
            #expect(tally.launched == 2 && tally.failed == 1 && tally.deferred == 0 && tally.gaveUp == 0)
            #expect(tally.lastError == "no such partition")

            // Outcomes for workflows no longer Pending change nothing.
            #expect(try await queues.markLaunchAttempt([u0, u1, u2]).isEmpty)
            let stale = try await queues.recordLaunches(
                [
                    u0: .failed(WorkflowError("late")), u1: .launched(Launched(externalID: "x-1")), u2: .deferred("late"),
                ], retry: .launches)
            #expect(stale.launched == 0 && stale.failed == 0 && stale.deferred == 0 && stale.gaveUp == 0)

            // Executor updates apply only when the status is still the one read.
            #expect(try await queues.apply([]) == [:])
            #expect(try await queues.apply([(previous: .pending, update: WorkflowUpdate(uuid: u0, status: .failed))]) == [:])
            #expect(
                try await queues.apply([(previous: .running, update: WorkflowUpdate(uuid: u0, status: .succeeded))]) == [:],
                "launched as Submitted, not Running")
            let sameStatus = try await queues.apply([
                (
                    previous: .submitted,
                    update: WorkflowUpdate(
                        uuid: u0, status: .submitted, externalID: "x-0b", details: ["k": 1])
                )
            ])
            #expect(sameStatus == [:], "a change of details only is applied but counts as no status change")
            #expect(
                try await queues.apply([
                    (previous: .submitted, update: WorkflowUpdate(uuid: u0, status: .running)),
                    (previous: .submitted, update: WorkflowUpdate(uuid: u1, status: .running)),
                ]) == [.running: 1])
            #expect(
                try await queues.apply([
                    (
                        previous: .running,
                        update: WorkflowUpdate(
                            uuid: u0, status: .succeeded, outputs: ["o": 0], details: ["a": 2])
                    )
                ]) == [.succeeded: 1])
            #expect(try await queues.apply([(previous: .running, update: WorkflowUpdate(uuid: u0, status: .failed))]) == [:])
            flight = try await queues.inFlight()
            #expect(flight.pending == 0 && flight.active == 0)
            #expect(try await queues.active(afterID: nil, limit: 10).isEmpty)
            return ()
        }
        let w0 = try await h.workflow(w, claimedAt: 0)
        #expect(w0.status == .succeeded && w0.externalID == "x-0b" && w0.submission == "backend-sub")
        #expect(w0.details == ["a": 2, "k": 1], "details merge, newest value per key")
        #expect(w0.outputs == ["o": 0] && w0.submitted != nil && w0.finished != nil && w0.error == nil)
        let w1 = try await h.workflow(w, claimedAt: 1)
        #expect(w1.status == .failed && w1.error == WorkflowError("no such partition") && w1.externalID == nil)
        #expect(w1.submission == "batch-1", "a failed launch keeps the claim's submission")
        let w2 = try await h.workflow(w, claimedAt: 2)
        #expect(w2.status == .succeeded && w2.externalID == nil, "an empty external id is no id")
        #expect(w2.submission == "batch-2" && w2.finished != nil && w2.outputs == ["o": 2])

        try await h.queues(w) { queues async throws in
            #expect(try await queues.deliverable(limit: 10).map(\.uuid) == [w0.uuid, w2.uuid])
            #expect(
                try await queues.finishIfDone(sourceDone: true, ignoreUnconsumedItems: false) == false,
                "succeeded workflows wait for their delivery")
            let delivered = try await queues.recordDeliveries([w0.uuid: .delivered], retry: .deliveries)
            #expect(delivered.delivered == 1)
            let again = try await queues.recordDeliveries([w0.uuid: .delivered, UUID(): .delivered], retry: .deliveries)
            #expect(again.delivered == 0, "a delivered workflow is delivered once")
            let late = try await queues.recordDeliveries([w0.uuid: .retry("late")], retry: .deliveries)
            #expect(late.retrying == 0 && late.setAside == 0)
            #expect(try await queues.recordDeliveries([w0.uuid: .started(["job": 1])], retry: .deliveries).started == 0)
            #expect(try await queues.deliverable(limit: 10).map(\.uuid) == [w2.uuid])
            #expect(try await queues.deliverable(limit: 0).isEmpty)
            #expect(try await queues.recordDeliveries([w2.uuid: .delivered], retry: .deliveries).delivered == 1)
            #expect(try await queues.finishIfDone(sourceDone: false, ignoreUnconsumedItems: false) == false)
            #expect(try await queues.finishIfDone(sourceDone: true, ignoreUnconsumedItems: false) == true)
            #expect(try await queues.finishIfDone(sourceDone: true, ignoreUnconsumedItems: false) == false, "finishes once")
            return ()
        }
        let finished = try await h.reload(w)
        #expect(finished.finished != nil)
        #expect(try await h.workflow(w, claimedAt: 0).consumed != nil)
        #expect(try await h.workflow(w, claimedAt: 0).deliveryError == nil)
        #expect(!(try await h.due()).contains(w.id))
        #expect(try await h.counts(w) == [.succeeded: 2, .failed: 1])

        // A workload with an unconsumed item does not finish unless told to ignore it.
        let open = try await h.create(items: [.item(0)])
        try await h.queues(open) { queues async throws in
            #expect(try await queues.finishIfDone(sourceDone: true, ignoreUnconsumedItems: false) == false)
            #expect(try await queues.finishIfDone(sourceDone: true, ignoreUnconsumedItems: true) == true)
            return ()
        }
    }
}

extension Harness {
    /// The `index`-th workflow in id order (newest attempts).
    func workflow(_ workload: WorkloadRecord, claimedAt index: Int) async throws -> WorkflowRecord {
        let all = try await workflows(workload)
        guard all.indices.contains(index) else { throw ContractFailure("no workflow #\(index); \(all.count) in all") }
        return all[index]
    }
}
