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
        let quiet = try await h.create(project: "quiet", items: [.item(0)])
        let watchers: JSONValue = [["slack", "C0123ABC"], ["email", "lab@example.org"]]
        let w = try await h.create(items: [.item(0, ["finish": "fail"]), .item(1)], watchers: watchers)
        #expect(w.watchers == watchers)

        // Started: one notification per watcher, in watcher order, each with its own key.
        let started = try await store.claimNotifications(limit: 10, lease: .seconds(60))
        #expect(started.map(\.watcher) == watchers.arrayValue ?? [])
        #expect(started.allSatisfy { $0.event.kind == "started" && $0.workload == w.uuid && $0.project == "contract" && $0.attempts == 1 })
        #expect(Set(started.map(\.key)).count == 2)
        #expect(try await store.claimNotifications(limit: 10, lease: .seconds(60)).isEmpty, "leased rows are not claimed twice")

        let (slack, email) = (started[0], started[1])
        try await store.recordNotifications([
            slack.id: .sent, email.id: .retry(at: Date().addingTimeInterval(-1), error: "relay down"),
        ])
        let again = try await store.claimNotifications(limit: 10, lease: .seconds(60))
        #expect(again.map(\.id) == [email.id] && again.first?.key == email.key && again.first?.attempts == 2)
        try await store.recordNotifications([email.id: .gaveUp(error: "Gave up telling email lab@example.org: 550 no such user")])
        #expect(try await store.claimNotifications(limit: 10, lease: .seconds(60)).isEmpty)
        let failedEvent = try #require(try await h.events(w).last)
        #expect(failedEvent.kind == "notification-failed" && failedEvent.message.contains("550 no such user"))
        #expect(failedEvent.data["notification"]?.stringValue == email.key.uuidString.lowercased())
        #expect(failedEvent.data["watcher"] == watchers.arrayValue?[1])
        // Recording again changes nothing (a row already sent or given up stays so).
        try await store.recordNotifications([slack.id: .gaveUp(error: "late"), email.id: .sent])
        #expect(try await h.events(w).filter { $0.kind == "notification-failed" }.count == 1)

        // A failed workflow (one message for the update, not one per workflow) and the finish
        // with its counts.
        try await h.runUntilFinished(w)
        try await h.runUntilFinished(quiet)
        let finishing = try await store.claimNotifications(limit: 10, lease: .milliseconds(1))
        #expect(finishing.map(\.event.kind) == ["workflows", "workflows", "finished", "finished"])
        #expect(finishing[0].event.data[WorkflowStatus.failed.rawValue] == 1)
        #expect(finishing[2].event.data == [WorkflowStatus.failed.rawValue: 1, WorkflowStatus.succeeded.rawValue: 1])
        #expect(finishing.allSatisfy { $0.workload == w.uuid }, "a workload without watchers has no notifications")

        // The sender "crashed" before recording: once the lease runs out they are due again,
        // same keys, one more attempt.
        try await Task.sleep(for: .milliseconds(50))
        let resent = try await store.claimNotifications(limit: 10, lease: .seconds(60))
        #expect(resent.map(\.key) == finishing.map(\.key) && resent.allSatisfy { $0.attempts == 2 })
        try await store.recordNotifications(Dictionary(uniqueKeysWithValues: resent.map { ($0.id, .sent) }))

        // Update errors: the watchers hear on the third in a row only.
        for n in 1...4 {
            try await store.recordUpdateError(workloadID: w.id, message: "backend down \(n)", retryAt: Date(), quarantine: false)
        }
        let errors = try await store.claimNotifications(limit: 10, lease: .seconds(60))
        #expect(errors.map(\.event.kind) == ["error", "error"])
        #expect(errors.allSatisfy { $0.event.message == "backend down 3" && $0.event.data["consecutive"] == 3 })
        #expect(try await store.claimNotifications(limit: 10, lease: .seconds(60)).isEmpty)
    }
}
