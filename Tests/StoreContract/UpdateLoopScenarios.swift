import Foundation
import LauncherCore
import Synchronization
import Testing

/// Counts how many bodies are inside a lock at once.
final class Gauge: Sendable {
    private let state = Mutex((inside: 0, most: 0, entered: 0))
    func enter() {
        state.withLock {
            $0.inside += 1
            $0.entered += 1
            $0.most = max($0.most, $0.inside)
        }
    }
    func leave() { state.withLock { $0.inside -= 1 } }
    var most: Int { state.withLock { $0.most } }
    var entered: Int { state.withLock { $0.entered } }
}

extension Scenarios {
    /// One holder per workload: a second one gets nil (after its wait), bodies never run
    /// without the lock, other workloads are free, a waiter gets it when it comes free, and a
    /// body that throws releases it.
    static func workloadLockExcludesASecondHolder(_ h: Harness) async throws {
        let store = h.store
        let w1 = try await h.create(), w2 = try await h.create()
        let (entered, enteredGate) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseGate) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await store.withWorkloadLock(workloadID: w1.id, wait: .zero) { queues async throws in
                enteredGate.yield()
                for await _ in release { break }
                return try await queues.reload().id
            }
        }
        for await _ in entered { break }

        let gauge = Gauge()
        #expect(try await store.withWorkloadLock(workloadID: w1.id, wait: .zero) { _ in gauge.enter() } == nil)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try await store.withWorkloadLock(workloadID: w1.id, wait: .milliseconds(50)) { _ in gauge.enter() } == nil)
        #expect(clock.now - start >= .milliseconds(50), "gave up before its wait was over")
        #expect(gauge.entered == 0, "a body ran without the lock")
        #expect(
            try await store.withWorkloadLock(workloadID: w2.id, wait: .zero) { try await $0.reload().id } == w2.id,
            "another workload's lock is free")

        // Updaters skip the held workload, and record nothing on it.
        #expect(try await h.updater.update(workloadID: w1.id) == nil)
        let outcome = await h.updater.updateRecordingErrors(w1)
        if case .locked = outcome {} else { Issue.record("expected .locked, got \(outcome)") }
        let pass = await h.updater.runPass()
        #expect(pass.due == 2 && pass.skippedLocked == 1 && pass.updated == 1 && pass.failed == 0)
        let skipped = try await h.reload(w1)
        #expect(skipped.errorCount == 0 && skipped.finished == nil)
        #expect(try await h.reload(w2).finished != nil)

        // A waiter gets the lock once it is released within its wait.
        let waiter = Task { try await store.withWorkloadLock(workloadID: w1.id, wait: .seconds(20)) { try await $0.reload().uuid } }
        try await Task.sleep(for: .milliseconds(20))
        releaseGate.yield()
        releaseGate.finish()
        #expect(try await holder.value == w1.id)
        #expect(try await waiter.value == w1.uuid)

        // A body that throws releases the lock; its error reaches the caller as thrown (the
        // updater tells a quarantine from an outage by it).
        var thrown: (any Error)?
        do {
            _ = try await store.withWorkloadLock(workloadID: w1.id, wait: .seconds(5)) { _ -> Int in throw ContractFailure("boom") }
        } catch {
            thrown = error
        }
        let bodyError = thrown
        #expect(bodyError != nil)
        try await h.contract.checking(.lockBodyErrorsPassThrough) { () async throws in
            #expect(bodyError is ContractFailure, "\(String(describing: bodyError))")
        }
        #expect(try await store.withWorkloadLock(workloadID: w1.id, wait: .zero) { _ in 7 } == 7)

        // Under contention, one holder at a time, and every waiter served.
        let contention = Gauge()
        let served = try await withThrowingTaskGroup(of: Int?.self) { group in
            for i in 0..<5 {
                group.addTask {
                    try await store.withWorkloadLock(workloadID: w1.id, wait: .seconds(30)) { _ in
                        contention.enter()
                        try await Task.sleep(for: .milliseconds(5))
                        contention.leave()
                        return i
                    }
                }
            }
            var served: [Int] = []
            for try await result in group { if let result { served.append(result) } }
            return served
        }
        #expect(served.sorted() == [0, 1, 2, 3, 4])
        #expect(contention.most == 1, "two holders of one workload's lock at once")
    }

    /// `dueWorkloads`: started, unfinished workloads whose wake-up time has come, oldest
    /// first; start, stop and update errors set the wake-up; updates set it from what is left.
    static func dueWorkloadsAndWakeTimes(_ h: Harness) async throws {
        let store = h.store
        let u = try await h.create(start: false)
        let s1 = try await h.create(), s2 = try await h.create(), s3 = try await h.create()
        #expect(Set(try await h.due()) == [s1.id, s2.id, s3.id], "an unstarted workload is never due")
        let now = Date()
        try await h.queues(s1) { try await $0.setWake(now.addingTimeInterval(-10)) }
        try await h.queues(s2) { try await $0.setWake(now.addingTimeInterval(-20)) }
        try await h.queues(s3) { try await $0.setWake(now.addingTimeInterval(-5)) }
        #expect(try await h.due() == [s2.id, s1.id, s3.id], "oldest wake-up first")
        let refs = try await store.dueWorkloads(limit: 2)
        #expect(refs.map(\.id) == [s2.id, s1.id] && refs.map(\.uuid) == [s2.uuid, s1.uuid] && refs.allSatisfy { $0.errorCount == 0 })
        #expect(try await store.dueWorkloads(limit: 0).isEmpty)

        try await h.queues(s2) { try await $0.setWake(now.addingTimeInterval(3600)) }
        #expect(try await h.due() == [s1.id, s3.id], "not before its wake-up time")
        try await h.queues(s3) { try await $0.setWake(nil) }
        #expect(try await h.due() == [s1.id], "no wake-up time: only when something happens")

        _ = try await store.start(workloadID: u.id, by: "test")
        #expect(try await h.due() == [s1.id, u.id], "start wakes it now")
        _ = try await store.stop(workloadID: s2.id, by: "test")
        #expect(try await h.due() == [s1.id, u.id, s2.id], "stop wakes it now")

        try await store.recordUpdateError(workloadID: s1.id, message: "boom", retryAt: Date().addingTimeInterval(3600), quarantine: false)
        #expect(try await h.due() == [u.id, s2.id], "a failed update is retried at retryAt")
        try await store.recordUpdateError(workloadID: s3.id, message: "boom", retryAt: Date().addingTimeInterval(-60), quarantine: false)
        let withError = try await store.dueWorkloads(limit: 10)
        #expect(withError.map(\.id) == [s3.id, u.id, s2.id])
        #expect(withError.first?.errorCount == 1)

        // A finished workload is never due, whatever its wake-up time.
        try await h.runUntilFinished(s2)
        #expect(!(try await h.due()).contains(s2.id))
        try await h.queues(s2) { try await $0.setWake(Date().addingTimeInterval(-60)) }
        #expect(!(try await h.due()).contains(s2.id))

        // The updater wakes a workload now while it launches, then when its executor says.
        let p = try await h.create(items: [.item(0, ["finish": "stay"])], executor: ["pollAfter": 600])
        try await h.tick(p)
        #expect(try await h.due().contains(p.id), "just launched: look again at once")
        try await h.tick(p)
        #expect(!(try await h.due()).contains(p.id), "running, and the executor asked for 10 minutes")
        let q = try await h.create(items: [.item(0, ["finish": "stay"])])
        try await h.tick(q)
        try await h.tick(q)
        #expect(try await h.due().contains(q.id), "running, and no hint: look again on the next pass")
    }

    /// `recordUpdateError` records the error (message, time, consecutive count, event) and
    /// quarantines when asked, keeping the first quarantine time; a successful update clears
    /// the count and the quarantine. Through the updater: a configuration that does not load
    /// quarantines, a backend outage does not.
    static func quarantineRecordedAndCleared(_ h: Harness) async throws {
        let store = h.store
        let w = try await h.create(items: [.item(0, ["finish": "stay"])])
        let retryAt = Date().addingTimeInterval(3600)
        try await store.recordUpdateError(workloadID: w.id, message: "backend down", retryAt: retryAt, quarantine: false)
        var record = try await h.reload(w)
        #expect(record.lastError == "backend down" && between(record.lastErrorAt, retryAt.addingTimeInterval(-3600), Date()))
        #expect(record.errorCount == 1)
        #expect(record.quarantinedAt == nil)
        let event = try #require(try await h.events(w).last)
        #expect(
            event.kind == "error" && event.message == "backend down"
                && event.data == ["retryAt": Timestamp.json(retryAt), "consecutive": 1])
        #expect(!(try await h.due()).contains(w.id))

        try await store.recordUpdateError(
            workloadID: w.id, message: "quarantined: broken", retryAt: Date().addingTimeInterval(-1), quarantine: true)
        record = try await h.reload(w)
        let quarantinedAt = try #require(record.quarantinedAt)
        #expect(record.errorCount == 2 && record.lastError == "quarantined: broken")
        #expect(try await h.events(w).last?.kind == "quarantined")
        #expect(try await store.dueWorkloads(limit: 10).first { $0.id == w.id }?.errorCount == 2)
        try await store.recordUpdateError(
            workloadID: w.id, message: "quarantined: still broken", retryAt: Date().addingTimeInterval(-1), quarantine: true)
        record = try await h.reload(w)
        #expect(record.quarantinedAt == quarantinedAt && record.errorCount == 3, "quarantined since the first time")
        #expect(record.json(counts: [:])["quarantined"] != nil)

        let report = try await h.tick(w)
        #expect(report.launched == 1)
        record = try await h.reload(w)
        #expect(record.errorCount == 0 && record.quarantinedAt == nil, "a successful update clears the count and the quarantine")
        #expect(record.lastError == "quarantined: still broken", "the last error stays on record")

        // A stored configuration that does not load: quarantined, backed off.
        // A ten-minute backoff, so "backed off" holds however slowly the checks below run.
        var patient = Harness.options
        patient.errorBackoff = RetryPolicy(attempts: .max, initialDelay: 600, maxDelay: 600)
        let broken = h.parts(options: patient, registry: h.backend.registry(executor: false))
        let outcome = await broken.updater.updateRecordingErrors(try await h.reload(w))
        if case .failed = outcome {} else { Issue.record("expected .failed, got \(outcome)") }
        let quarantined = try await h.reload(w)
        let quarantineEvent = try #require(try await h.events(w).last)
        #expect(quarantined.errorCount == 1 && quarantined.lastError == quarantineEvent.message)
        #expect(!(try await h.due()).contains(w.id), "backed off")
        try await h.contract.checking(.lockBodyErrorsPassThrough) { () async throws in
            #expect(quarantined.quarantinedAt != nil)
            #expect(
                quarantined.lastError?.hasPrefix("quarantined: its stored configuration cannot be loaded") == true,
                "\(quarantined.lastError ?? "")")
            #expect(quarantineEvent.kind == "quarantined")
        }

        // A backend outage is an error, not quarantine (and lifts a quarantine).
        h.backend.setPollDown(true)
        let down = await h.updater.updateRecordingErrors(try await h.reload(w))
        if case .failed = down {} else { Issue.record("expected .failed, got \(down)") }
        record = try await h.reload(w)
        #expect(record.errorCount == 2 && record.quarantinedAt == nil)
        #expect(record.lastError == "executor status: connection refused (contract backend is down)", "\(record.lastError ?? "")")
        #expect(try await h.events(w).last?.kind == "error")
        #expect(try await h.counts(w) == [.running: 1], "an unanswered poll changes no workflow")
        h.backend.setPollDown(false)
        try await h.tick(w)
        #expect(try await h.reload(w).errorCount == 0)
    }

    /// Events and workflows page by ascending id after a cursor; events keep their data.
    static func eventsAndCursors(_ h: Harness) async throws {
        let store = h.store
        let before = Date()
        let w = try await h.create(items: (0..<7).map { .item($0) })
        let other = try await h.create()
        try await h.queues(w) { queues async throws in
            for i in 0..<5 { try await queues.addEvent(kind: "note", message: "note \(i)", data: ["i": .int(Int64(i))]) }
            try await queues.addEvent(kind: "bare", message: "no data", data: .null)
        }
        let all = try await h.events(w)
        #expect(all.map(\.kind) == ["created", "started", "note", "note", "note", "note", "note", "bare"])
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.id < $1.id }, "ids ascend")
        #expect(all.filter { $0.kind == "note" }.map(\.data) == (0..<5).map { ["i": .int(Int64($0))] })
        #expect(all.filter { $0.kind == "note" }.map(\.message) == (0..<5).map { "note \($0)" })
        #expect(all.last?.data == .null)
        let listed = Date()
        #expect(all.allSatisfy { between($0.at, before, listed) })
        let otherEvents = try await h.events(other)
        #expect(otherEvents.map(\.kind) == ["created", "started"])
        #expect(Set(otherEvents.map(\.id)).isDisjoint(with: all.map(\.id)))

        // The newest first (the dashboard's log and chart): by kind, since a time, limited.
        let newest = try await store.recentEvents(workloadID: w.id, kind: nil, since: .distantPast, limit: 3)
        #expect(newest.map(\.id) == all.suffix(3).reversed().map(\.id), "\(newest.map(\.kind))")
        let notes = try await store.recentEvents(workloadID: w.id, kind: "note", since: .distantPast, limit: 100)
        #expect(notes.map(\.message) == (0..<5).reversed().map { "note \($0)" })
        #expect(try await store.recentEvents(workloadID: w.id, kind: "note", since: Date().addingTimeInterval(60), limit: 100).isEmpty)
        #expect(try await store.recentEvents(workloadID: other.id, kind: "note", since: .distantPast, limit: 100).isEmpty)

        var paged: [Int64] = []
        var after: Int64?
        while true {
            let page = try await store.events(workloadID: w.id, afterID: after, limit: 3)
            paged += page.map(\.id)
            guard page.count == 3, let last = page.last else { break }
            after = last.id
        }
        #expect(paged == all.map(\.id))
        #expect(try await store.events(workloadID: w.id, afterID: all[5].id, limit: 1).map(\.id) == [all[6].id])
        #expect(try await store.events(workloadID: w.id, afterID: all.last?.id, limit: 10).isEmpty)
        var cursor: String?
        var viaService: [Int64] = []
        repeat {
            let page = try await h.service.events(w.uuid, cursor: cursor, limit: 3)
            viaService += page.items.map(\.id)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(viaService == all.map(\.id))

        try await h.tick(w)
        let workflows = try await h.workflows(w)
        #expect(workflows.count == 7 && zip(workflows, workflows.dropFirst()).allSatisfy { $0.id < $1.id })
        #expect(try await h.workflows(w, pageSize: 3).map(\.id) == workflows.map(\.id))
        #expect(
            try await store.workflows(workloadID: w.id, filter: WorkflowFilter(), afterID: workflows[2].id, limit: 2).map(\.id)
                == [workflows[3].id, workflows[4].id])
        #expect(try await store.workflows(workloadID: w.id, filter: WorkflowFilter(), afterID: nil, limit: 0).isEmpty)
        #expect(try await store.workflows(workloadID: other.id, filter: WorkflowFilter(), afterID: nil, limit: 100).isEmpty)
        let firstPage = try await h.service.workflows(
            w.uuid, status: "running", submission: nil, includeRetried: false, cursor: nil, limit: 4)
        #expect(firstPage.items.map(\.id) == Array(workflows.prefix(4).map(\.id)))
        let secondPage = try await h.service.workflows(
            w.uuid, status: "running", submission: nil, includeRetried: false,
            cursor: firstPage.nextCursor, limit: 4)
        #expect(secondPage.items.map(\.id) == Array(workflows.suffix(3).map(\.id)) && secondPage.nextCursor == nil)
    }

    /// An open source's items and state are stored together; it is polled until the workload
    /// is stopped, then the workload drains and finishes.
    static func openSourcePollsUntilStopped(_ h: Harness) async throws {
        let w = try await h.create(source: ["name": "ContractFeed"])
        h.backend.feed([.item(0), .item(1)])
        let first = try await h.tick(w)
        #expect(first.claimed == 2 && first.launched == 2)
        #expect(try await h.reload(w).sourceState == 2)
        #expect(h.backend.unpolled == 0)
        let second = try await h.tick(w)
        #expect(second.delivered == 2 && !second.finished, "an open source is never done until stopped")
        h.backend.feed([.item(2)])
        #expect(try await h.tick(w).claimed == 1)
        #expect(try await h.reload(w).sourceState == 3)

        try await h.queues(w) { try await $0.recordPoll(items: [.object(.item(3))], state: 4) }
        #expect(try await h.reload(w).sourceState == 4)
        try await h.queues(w) { try await $0.recordPoll(items: [], state: ["seen": 4]) }
        #expect(try await h.reload(w).sourceState == ["seen": 4])
        try await h.queues(w) { try await $0.recordPoll(items: [], state: 4) }

        _ = try await h.service.stop(w.uuid)
        h.backend.feed([.item(9)])
        let done = try await h.runUntilFinished(w)
        #expect(done.state == "Finished" && done.sourceState == 4)
        #expect(h.backend.unpolled == 1, "a stopped source is not polled")
        #expect(try await h.counts(w) == [.succeeded: 4])
        #expect(Set(try await h.workflows(w).compactMap { $0.inputs["n"]?.intValue }) == [0, 1, 2, 3])
    }
}
