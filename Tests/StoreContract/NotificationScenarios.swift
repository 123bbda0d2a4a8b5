import Foundation
import LauncherCore
import Testing

extension Scenarios {
    /// The outbox: notifying events get one row per watcher with the event; a claim leases
    /// rows (a second claim gets none); sent rows are done, retried ones come back when due with
    /// the same key and one more attempt, given-up ones log their reason on the workload; a
    /// lease that runs out (a sender that crashed before recording) makes the row due again.
    static func notificationOutbox(_ h: Harness) async throws {
        let store = h.store
        func claim(_ lease: Duration = .seconds(60), kinds: [String] = ["slack", "email", "webhook"]) async throws -> [OutgoingNotification]
        {
            try await store.claimNotifications(limit: 10, lease: lease, kinds: kinds)
        }
        let quiet = try await h.create(project: "quiet", items: [.item(0)])
        let watchers: JSONValue = [["slack", "C0123ABC"], ["email", "lab@example.org"]]
        let w = try await h.create(items: [.item(0, ["finish": "fail"]), .item(1)], watchers: watchers)
        #expect(w.watchers == watchers)

        // Started: one notification per watcher, in watcher order, each with its own key.
        #expect(try await claim(kinds: ["webhook"]).isEmpty, "only the kinds asked for are claimed")
        let started = try await claim()
        #expect(started.map(\.watcher) == watchers.arrayValue ?? [])
        #expect(started.allSatisfy { $0.event.kind == "started" && $0.workload == w.uuid && $0.project == "contract" && $0.attempts == 1 })
        #expect(Set(started.map(\.key)).count == 2)
        #expect(try await claim().isEmpty, "leased rows are not claimed twice")

        let (slack, email) = (started[0], started[1])
        try await store.recordNotifications([
            NotificationAttempt(slack, .sent), NotificationAttempt(email, .retry(at: Date().addingTimeInterval(-1), error: "relay down")),
        ])
        let again = try await claim()
        #expect(again.map(\.id) == [email.id] && again.first?.key == email.key && again.first?.attempts == 2)
        // The first attempt's sender comes back late: its retry must not reschedule the row the
        // second attempt holds (nor its give-up end it).
        try await store.recordNotifications([NotificationAttempt(email, .retry(at: Date().addingTimeInterval(-1), error: "late"))])
        try await store.recordNotifications([NotificationAttempt(email, .gaveUp(error: "late give-up"))])
        #expect(try await claim().isEmpty, "still leased to the second attempt")
        #expect(try await h.events(w).filter { $0.kind == "notification-failed" }.isEmpty)
        try await store.recordNotifications([
            NotificationAttempt(again[0], .gaveUp(error: "Gave up telling email lab@example.org: 550 no such user"))
        ])
        #expect(try await claim().isEmpty)
        let failedEvent = try #require(try await h.events(w).last)
        #expect(failedEvent.kind == "notification-failed" && failedEvent.message.contains("550 no such user"))
        #expect(failedEvent.data["notification"]?.stringValue == email.key.uuidString.lowercased())
        #expect(failedEvent.data["watcher"] == watchers.arrayValue?[1])
        // Recording again changes nothing (a row already sent or given up stays so).
        try await store.recordNotifications([NotificationAttempt(slack, .gaveUp(error: "late")), NotificationAttempt(again[0], .sent)])
        #expect(try await h.events(w).filter { $0.kind == "notification-failed" }.count == 1)
        try await store.recordNotifications([NotificationAttempt(again[0], .retry(at: Date().addingTimeInterval(-1), error: "x"))])
        #expect(try await claim().isEmpty, "a given-up row is never due again")

        // A failed workflow (one message for the update, not one per workflow) and the finish
        // with its counts.
        try await h.runUntilFinished(w)
        try await h.runUntilFinished(quiet)
        let finishing = try await claim(.milliseconds(1))
        #expect(finishing.map(\.event.kind) == ["workflows", "workflows", "finished", "finished"])
        #expect(finishing[0].event.data[WorkflowStatus.failed.rawValue] == 1)
        #expect(finishing[2].event.data == [WorkflowStatus.failed.rawValue: 1, WorkflowStatus.succeeded.rawValue: 1])
        #expect(finishing.allSatisfy { $0.workload == w.uuid }, "a workload without watchers has no notifications")

        // The sender "crashed" before recording: once the lease runs out they are due again,
        // same keys, one more attempt.
        try await Task.sleep(for: .milliseconds(50))
        let resent = try await claim()
        #expect(resent.map(\.key) == finishing.map(\.key) && resent.allSatisfy { $0.attempts == 2 })
        // The first sender reports last: a send counts whoever holds the row.
        try await store.recordNotifications(finishing.map { NotificationAttempt($0, .sent) })
        #expect(try await claim(.milliseconds(1)).isEmpty, "sent, by whichever attempt")

        // Update errors: the watchers hear on the third in a row only.
        for n in 1...4 {
            try await store.recordUpdateError(workloadID: w.id, message: "backend down \(n)", retryAt: Date(), quarantine: false)
        }
        let errors = try await claim()
        #expect(errors.map(\.event.kind) == ["error", "error"])
        #expect(errors.allSatisfy { $0.event.message == "backend down 3" && $0.event.data["consecutive"] == 3 })
        #expect(try await claim().isEmpty)

        // Quarantine: told once, when it begins, however long it lasts.
        try await store.recordNotifications(errors.map { NotificationAttempt($0, .sent) })
        for n in 1...3 {
            try await store.recordUpdateError(workloadID: w.id, message: "cannot load \(n)", retryAt: Date(), quarantine: true)
        }
        let quarantined = try await claim()
        #expect(quarantined.map(\.event.kind) == ["quarantined", "quarantined"])
        #expect(quarantined.allSatisfy { $0.event.message == "cannot load 1" && $0.event.data["newlyQuarantined"] == true })
    }
}
