import Foundation
import LauncherCore
import Synchronization
import Testing

/// A channel that answers from a script, one outcome per call (the last one repeats), and
/// records what it was asked.
final class ScriptedChannel: NotificationChannel {
    private let state: Mutex<(script: [SendOutcome], sent: [(key: UUID, address: String, summary: String)])>
    let hang: Bool

    init(_ script: [SendOutcome], hang: Bool = false) {
        state = Mutex((script, []))
        self.hang = hang
    }

    func send(_ message: NotificationMessage, to address: String) async -> SendOutcome {
        if hang { try? await Task.sleep(for: .seconds(3600)) }
        return state.withLock { state in
            state.sent.append((message.key, address, message.summary))
            return state.script.count > 1 ? state.script.removeFirst() : state.script[0]
        }
    }

    var sent: [(key: UUID, address: String, summary: String)] { state.withLock { $0.sent } }
}

@Suite struct NotifierTests {
    func workload(_ store: MemoryStore, watchers: JSONValue, project: String = "lab") async throws -> WorkloadRecord {
        try await store.createWorkload(
            NewWorkload(
                uuid: UUID(), project: project, creator: "ada", labels: [], watchers: watchers, sourceConfig: [:], executorConfig: [:],
                sinkConfig: [:], version: "test"),
            items: [], start: true)
    }

    /// A failure waits with backoff, or as long as the receiver's Retry-After asks; the last
    /// attempt gives up with the reason on the workload; a refusal gives up at once.
    @Test func failuresBackOffHonourRetryAfterAndGiveUpVisibly() async throws {
        let store = MemoryStore()
        let w = try await workload(store, watchers: [["slack", "C1"], ["email", "a@b.org"], ["webhook", "https://x.example.org/h"]])
        let slack = ScriptedChannel([.failed("Slack answered HTTP 429", retryAfter: 7), .accepted])
        let email = ScriptedChannel([.failed("relay down")])
        let webhook = ScriptedChannel([.refused("the webhook receiver answered HTTP 410")])
        var notifier = Notifier(store: store, channels: [.slack: slack, .email: email, .webhook: webhook], publicURL: "https://wfl.test")
        notifier.retry = RetryPolicy(attempts: 2, initialDelay: 0.05, maxDelay: 1)

        let before = Date()
        #expect(try await notifier.sendDue() == 3)
        #expect(slack.sent.count == 1 && email.sent.count == 1 && webhook.sent.count == 1)
        #expect(slack.sent[0].summary == "Workload \(w.uuid.uuidString.lowercased().prefix(8)) (lab) started")
        // Webhook refused: given up at once, the reason on the workload.
        var failed = try await store.events(workloadID: w.id, afterID: nil, limit: 100).filter { $0.kind == "notification-failed" }
        #expect(
            failed.map(\.message) == [
                "Gave up telling webhook https://x.example.org/h that the workload started: the webhook receiver answered HTTP 410 (after 1 attempt)"
            ])

        // The e-mail is due again after the backoff; Slack not before its Retry-After.
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await notifier.sendDue() == 1)
        #expect(email.sent.count == 2 && email.sent[1].key == email.sent[0].key, "the same notification, the same key")
        failed = try await store.events(workloadID: w.id, afterID: nil, limit: 100).filter { $0.kind == "notification-failed" }
        #expect(failed.last?.message == "Gave up telling email a@b.org that the workload started: relay down (after 2 attempts)")
        let states = try store.notificationStates()
        #expect(states.filter(\.gaveUp).count == 2 && states.filter(\.sent).isEmpty)
        let slackRow = try #require(states.first { $0.watcher == ["slack", "C1"] })
        #expect(slackRow.attempts == 1 && !slackRow.sent && !slackRow.gaveUp)
        #expect(Date().timeIntervalSince(before) < 7, "Slack's Retry-After has not passed")
        #expect(try await notifier.sendDue() == 0)
    }

    /// A sender takes only what it has a channel for: a replica (or a cron `wfl update`)
    /// configured without Slack leaves Slack's notifications, and a watcher of a kind no
    /// version sends, untouched for one that can. A receiver that never answers is cut off at
    /// the send timeout and retried.
    @Test func onlyWhatItCanSendAndHangingReceiversAreCutOff() async throws {
        let store = MemoryStore()
        let w = try await workload(store, watchers: [["slack", "C1"], ["pager", "x"], ["email", "a@b.org"]])
        var notifier = Notifier(store: store, channels: [.email: ScriptedChannel([.accepted], hang: true)], publicURL: nil)
        notifier.sendTimeout = .milliseconds(100)
        #expect(try await notifier.sendDue() == 1)
        #expect(try await store.events(workloadID: w.id, afterID: nil, limit: 100).filter { $0.kind == "notification-failed" }.isEmpty)
        let states = try store.notificationStates()
        let email = try #require(states.first { $0.watcher == ["email", "a@b.org"] })
        #expect(!email.sent && !email.gaveUp && email.attempts == 1, "timed out, to be retried")
        #expect(states.filter { $0.watcher != ["email", "a@b.org"] }.allSatisfy { $0.attempts == 0 && !$0.sent && !$0.gaveUp })
        // A replica with Slack sends Slack's.
        let slack = ScriptedChannel([.accepted])
        #expect(try await Notifier(store: store, channels: [.slack: slack], publicURL: nil).sendDue() == 1)
        #expect(slack.sent.map(\.address) == ["C1"])
        #expect(try await Notifier(store: store, channels: [:], publicURL: nil).sendDue() == 0, "no channels, nothing claimed")
    }

    /// Request text in a message is one bounded line: no second line in a Slack message, no
    /// character of a thousand combining marks that a limit in characters would let through.
    @Test func messagesAreOneBoundedLinePerPart() async throws {
        let store = MemoryStore()
        let project = "evil\r\nBcc: all@example.org\u{2028}" + String(repeating: "x", count: 500)
        _ = try await workload(store, watchers: [["slack", "C1"]], project: project)
        let slack = ScriptedChannel([.accepted])
        try await Notifier(store: store, channels: [.slack: slack], publicURL: nil).sendDue()
        let summary = try #require(slack.sent.first?.summary)
        #expect(!summary.contains("\r") && !summary.contains("\n") && !summary.contains("\u{2028}"))
        #expect(summary.contains("evil Bcc: all@example.org"))
        #expect(summary.unicodeScalars.count < 140)
        let zalgo = "a" + String(repeating: "\u{0301}", count: 5000)
        #expect(zalgo.count == 1 && NotificationMessage.oneLine(zalgo, limit: 80).unicodeScalars.count <= 81)
    }
}
