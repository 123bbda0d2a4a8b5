import Foundation
import LauncherCore
import Testing

extension Scenarios {
    /// Deliveries: delivered ones are consumed; a retry waits
    /// `retry.delay(afterFailure: deliveryAttempts + 1)` and is set aside after the policy's
    /// last attempt; a rejection is set aside at once; a started delivery holds the workload
    /// open until the sink says it is done; redeliver puts set-aside ones back and reopens.
    static func deliveriesRetriedSetAsideRejectedRedelivered(_ h: Harness) async throws {
        let store = h.store
        let slow = RetryPolicy(attempts: 3, initialDelay: 60, multiplier: 2, maxDelay: 1000)
        let parts = h.parts(options: Harness.options(deliveryRetry: slow))
        let w = try await h.create(items: [
            .item(0, ["launch": "succeed"]), .item(1, ["launch": "succeed", "deliver": "reject"]),
            .item(2, ["launch": "succeed", "deliver": "retry"]), .item(3, ["launch": "succeed", "deliver": "slow"]),
        ])
        let beforeFirst = Date()
        let first = try await h.tick(w, with: parts)
        #expect(first.launched == 4 && first.delivered == 1 && first.setAside == 1 && !first.finished)
        let ok = try await h.workflow(w, n: 0), rejected = try await h.workflow(w, n: 1)
        let retrying = try await h.workflow(w, n: 2), slowOne = try await h.workflow(w, n: 3)
        #expect(ok.consumed != nil && ok.deliveryError == nil && ok.json["delivered"] == true)
        #expect(rejected.consumed != nil && rejected.deliveryError == "no identifier to deliver under")
        #expect(rejected.json["delivered"] == false)
        #expect(retrying.consumed == nil && retrying.deliveryError == "sink unavailable" && retrying.json["delivered"] == false)
        #expect(slowOne.consumed == nil && slowOne.deliveryError == nil)
        #expect(h.backend.deliveries(ok.uuid).first?.outputs == ["result": 0])
        try await h.queues(w) { queues async throws in
            let flight = try await queues.inFlight()
            #expect(flight.pending == 0 && flight.active == 0 && flight.delivering == 1)
            #expect(
                between(
                    flight.nextBackoffDue, beforeFirst.addingTimeInterval(slow.delay(afterFailure: 1)),
                    Date().addingTimeInterval(slow.delay(afterFailure: 1))),
                "\(String(describing: flight.nextBackoffDue))")
            let underWay = try await queues.deliveriesUnderWay(limit: 10)
            #expect(underWay.map(\.uuid) == [slowOne.uuid])
            #expect(underWay.first?.handle["checks"] == 0 && underWay.first?.handle["job"]?.stringValue?.hasPrefix("job-") == true)
            #expect(between(underWay.first?.started, beforeFirst, Date()))
            #expect(try await queues.deliverable(limit: 10).isEmpty, "one backs off, one is under way")
            return ()
        }
        let kinds = try await h.events(w).map(\.kind)
        #expect(kinds.contains("delivered") && kinds.contains("delivery-set-aside"))
        #expect(try await h.events(w).contains { $0.message == "Set aside 1 undeliverable workflow(s)" })

        // The started delivery: still under way after one check, done after the second.
        try await h.tick(w, with: parts)
        #expect(try await h.queues(w) { try await $0.deliveriesUnderWay(limit: 10) }.first?.handle["checks"] == 1)
        #expect(try await h.workflow(w, slowOne.uuid).consumed == nil)
        let third = try await h.tick(w, with: parts)
        #expect(third.delivered == 1 && !third.finished, "the retrying delivery keeps the workload open")
        #expect(try await h.workflow(w, slowOne.uuid).consumed != nil)
        #expect(try await h.queues(w) { try await $0.deliveriesUnderWay(limit: 10) }.isEmpty)

        // Each further failure waits longer; the last attempt sets it aside, error kept.
        try await h.queues(w) { queues async throws in
            let beforeAgain = Date()
            let again = try await queues.recordDeliveries([retrying.uuid: .retry("still down")], retry: slow)
            #expect(again.retrying == 1 && again.setAside == 0 && again.lastError == "still down")
            let flight = try await queues.inFlight()
            #expect(
                between(
                    flight.nextBackoffDue, beforeAgain.addingTimeInterval(slow.delay(afterFailure: 2)),
                    Date().addingTimeInterval(slow.delay(afterFailure: 2))),
                "\(String(describing: flight.nextBackoffDue))")
            let last = try await queues.recordDeliveries([retrying.uuid: .retry("still down")], retry: slow)
            #expect(last.setAside == 1 && last.retrying == 0)
            #expect(try await queues.recordDeliveries([retrying.uuid: .retry("late")], retry: slow).setAside == 0)
            return ()
        }
        let setAside = try await h.workflow(w, retrying.uuid)
        #expect(setAside.consumed != nil && setAside.deliveryError == "still down" && setAside.json["delivered"] == false)
        #expect(try await h.tick(w, with: parts).finished, "set-aside deliveries do not hold the workload open")

        // Redeliver: only set-aside ones, reopening the workload.
        let finishedAt = try await h.reload(w).finished
        let eventCount = try await h.events(w).count
        #expect(try await store.redeliver(workloadID: w.id, uuids: [ok.uuid], by: "test") == 0, "a delivered workflow is not set aside")
        #expect(try await store.redeliver(workloadID: w.id, uuids: [UUID()], by: "test") == 0)
        #expect(try await h.reload(w).finished == finishedAt)
        #expect(try await h.events(w).count == eventCount)
        #expect(try await store.redeliver(workloadID: w.id, uuids: [rejected.uuid], by: "test") == 1)
        let back = try await h.workflow(w, rejected.uuid)
        #expect(back.consumed == nil && back.deliveryError == nil)
        #expect(try await h.reload(w).finished == nil)
        #expect(try await h.due().contains(w.id))
        let redelivered = try #require(try await h.events(w).last)
        #expect(redelivered.kind == "redelivered" && redelivered.message == "Put 1 set-aside delivery back in the sink's queue")
        #expect(redelivered.data == ["count": 1])

        // Rejected again (a fresh budget, but a rejection is final at once).
        let rejectedAgain = try await h.tick(w, with: parts)
        #expect(rejectedAgain.setAside == 1 && rejectedAgain.finished)

        // All set-aside ones; the sink now takes them.
        #expect(try await store.redeliver(workloadID: w.id, uuids: nil, by: "test") == 2)
        #expect(try await h.events(w).last?.message == "Put 2 set-aside deliveries back in the sink's queue")
        h.backend.healSink()
        let healed = try await h.tick(w, with: parts)
        #expect(healed.delivered == 2 && healed.finished)
        #expect(try await h.workflows(w).allSatisfy { $0.consumed != nil && $0.deliveryError == nil && $0.json["delivered"] == true })
        for workflow in [ok, rejected, retrying, slowOne] { #expect(h.backend.deliveries(workflow.uuid).count == 1) }
        #expect(try await store.redeliver(workloadID: w.id, uuids: nil, by: "test") == 0)
        #expect(try await h.reload(w).finished != nil)
    }
}
