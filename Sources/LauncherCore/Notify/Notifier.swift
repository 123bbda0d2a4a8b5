import Foundation
import Logging
import Metrics

/// Sends the notification outbox: claims due notifications, hands each to its channel, and
/// records what the receiver said. A notification is marked sent only after the receiver
/// accepted it; a failure waits with backoff (or as long as a rate limit asks); after the last
/// attempt, or at once when the receiver refuses it for good, it is given up with the reason
/// on the workload's event log. `wfl serve` runs this beside the update loop; `wfl update`
/// runs one pass after its updates.
public struct Notifier: Sendable {
    public let store: any LauncherStore
    public let channels: [WatcherAddress.Kind: any NotificationChannel]
    public let publicURL: String?
    /// Attempts and backoff (`NotificationSettings.retry`: 8 attempts over about two hours by default).
    public var retry: RetryPolicy
    /// How long a claimed notification is left to its sender before another may send it.
    public var lease: Duration = .seconds(300)
    /// Time limit of one send.
    public var sendTimeout: Duration = .seconds(30)
    /// Sends at once, across receivers.
    public var parallel = 8
    /// Notifications claimed per pass: few enough that the pass ends well inside the lease
    /// even when every receiver takes its whole timeout (4 rounds of 30 s against 300 s), so
    /// no other sender takes them up while they are being sent.
    public var claimLimit: Int { parallel * 4 }
    public let logger: Logger

    public init(
        store: any LauncherStore, channels: [WatcherAddress.Kind: any NotificationChannel], publicURL: String?,
        retry: RetryPolicy = NotificationSettings(Settings([:])).retry, logger: Logger = Logger(label: "wfl.notify")
    ) {
        self.store = store
        self.retry = retry
        self.channels = channels
        self.publicURL = publicURL
        self.logger = logger
    }

    /// One pass over what is due: returns how many notifications it tried.
    @discardableResult
    public func sendDue(limit: Int? = nil) async throws -> Int {
        // Only what this process can send: a replica or a cron `wfl update` configured without
        // Slack leaves Slack's notifications to one that has it.
        let kinds = channels.keys.map(\.rawValue).sorted()
        guard !kinds.isEmpty else { return 0 }
        let claimed = try await store.claimNotifications(limit: min(limit ?? claimLimit, claimLimit), lease: lease, kinds: kinds)
        guard !claimed.isEmpty else { return 0 }
        var results: [NotificationAttempt] = []
        await withTaskGroup(of: NotificationAttempt.self) { group in
            var next = claimed.makeIterator()
            func add() -> Bool {
                guard let notification = next.next() else { return false }
                group.addTask { NotificationAttempt(notification, await self.attempt(notification)) }
                return true
            }
            for _ in 0..<parallel where add() {}
            while let result = await group.next() {
                results.append(result)
                _ = add()
            }
        }
        try await store.recordNotifications(results)
        for result in results.map(\.result) {
            let label: String
            switch result {
            case .sent: label = "sent"
            case .retry: label = "retry"
            case .gaveUp: label = "gave_up"
            }
            Counter(label: "wfl_notifications_total", dimensions: [("result", label)]).increment()
        }
        return claimed.count
    }

    /// Sends passes until cancelled: at once again while there is a backlog, else every `interval`.
    public func run(every interval: Duration) async {
        var outage = false
        while !Task.isCancelled {
            var tried = 0
            do {
                tried = try await sendDue()
                if outage { logger.info("notifications: the database answers again") }
                outage = false
            } catch is CancellationError {
                return
            } catch {
                if !outage { logger.warning("notifications: cannot read the outbox: \(error)") }
                outage = true
            }
            if tried == 0 { try? await Task.sleep(for: interval) }
        }
    }

    /// One attempt at one notification, as the outbox records it.
    func attempt(_ notification: OutgoingNotification) async -> NotificationResult {
        let what = Self.what(notification.event.kind)
        // Claimed by the kinds of `channels`, so a channel is there unless the stored watcher
        // is malformed (a kind with no address).
        guard let watcher = WatcherAddress(notification.watcher), let channel = channels[watcher.kind] else {
            return .gaveUp(
                error: "Gave up telling \(Constraint.excerpt(notification.watcher.description)) \(what): not a watcher this server knows")
        }
        let message = NotificationMessage(notification, publicURL: publicURL)
        let outcome: SendOutcome
        do {
            outcome = try await Deadline(sendTimeout, "\(watcher.kind.rawValue) receiver").run {
                await channel.send(message, to: watcher.address)
            }
        } catch {
            outcome = .failed("\(error)")
        }
        return result(notification, watcher: watcher, outcome, now: Date())
    }

    /// What the outbox records for a receiver's answer.
    func result(_ notification: OutgoingNotification, watcher: WatcherAddress, _ outcome: SendOutcome, now: Date) -> NotificationResult {
        let what = Self.what(notification.event.kind)
        let tries = "\(notification.attempts) attempt\(notification.attempts == 1 ? "" : "s")"
        switch outcome {
        case .accepted:
            logger.debug("notified \(watcher) \(what)", metadata: ["notification": "\(notification.key)"])
            return .sent
        case .refused(let reason):
            logger.warning("gave up telling \(watcher) \(what): \(reason)")
            return .gaveUp(error: "Gave up telling \(watcher) \(what): \(reason) (after \(tries))")
        case .failed(let reason, let retryAfter):
            if retry.givesUp(after: notification.attempts) {
                logger.warning("gave up telling \(watcher) \(what) after \(tries): \(reason)")
                return .gaveUp(error: "Gave up telling \(watcher) \(what): \(reason) (after \(tries))")
            }
            var delay = retry.delay(afterFailure: notification.attempts)
            if let retryAfter, retryAfter.isFinite, retryAfter > 0 { delay = min(retryAfter, 3600) }
            return .retry(at: now.addingTimeInterval(delay), error: reason)
        }
    }

    static func what(_ kind: String) -> String {
        switch kind {
        case "started": "that the workload started"
        case "finished": "that the workload finished"
        case "workflows": "that workflows failed"
        case "error": "that the workload keeps failing to update"
        case "quarantined": "that the workload is quarantined"
        default: "of \(kind)"
        }
    }
}
