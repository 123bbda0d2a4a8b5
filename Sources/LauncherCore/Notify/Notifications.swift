import Foundation

/// Which events tell a workload's watchers, decided once here for both stores: the store
/// writes one outbox row per watcher in the same statement as the event, so an event that
/// notifies cannot be committed without its notifications.
public enum NotificationRule {
    /// Failed updates in a row before the watchers hear of it (a backend that blips once
    /// should not page anyone); they hear once per streak.
    public static let errorsBeforeNotice = 3

    public static func notifies(kind: String, data: JSONValue) -> Bool {
        switch kind {
        case "started", "finished": true
        // One per update, however many workflows failed in it.
        case "workflows": (data[WorkflowStatus.failed.rawValue]?.intValue ?? 0) > 0
        case "error": data["consecutive"]?.intValue == Int64(errorsBeforeNotice)
        // Once, when it becomes quarantined.
        case "quarantined": data["newlyQuarantined"] == true
        default: false
        }
    }
}

/// A watcher: who is told, and how.
public struct WatcherAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable { case slack, email, webhook }
    public var kind: Kind
    /// A Slack channel id, an e-mail address, a URL.
    public var address: String

    public init(kind: Kind, address: String) {
        self.kind = kind
        self.address = address
    }

    /// A stored watcher (`["slack", "C…", "#name"?]`); nil for a shape this version does not send to.
    public init?(_ json: JSONValue) {
        guard let parts = json.arrayValue, parts.count >= 2, let kind = parts[0].stringValue.flatMap(Kind.init(rawValue:)),
            let address = parts[1].stringValue
        else { return nil }
        self.init(kind: kind, address: address)
    }

    public var description: String { "\(kind.rawValue) \(address)" }

    /// Why a webhook URL is not one the launcher calls: https to any host; http only to this
    /// machine (a receiver beside the launcher: `localhost`, an address 127.x.y.z, `[::1]`); no
    /// credentials in the URL (they would show in every listing). Checked at create and again
    /// before every call, with the outbound policy.
    public static func webhookProblem(_ text: String) -> String? {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            return "expected an absolute http(s) URL, got \(Constraint.excerpt(text))"
        }
        if url.user != nil || url.password != nil { return "a webhook URL may not carry a user name or password" }
        if url.fragment != nil { return "a webhook URL may not have a #fragment" }
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let loopback = name == "localhost" || name == "::1" || (OutboundPolicy.ipv4(name).map { $0 >> 24 == 127 } ?? false)
        switch scheme {
        case "https": return nil
        case "http" where loopback: return nil
        case "http": return "a webhook URL must use https (http only to this machine)"
        default: return "a webhook URL must use https, not \(Constraint.excerpt(scheme))"
        }
    }

    /// The operator's sender address: like a watcher's, but the domain may be a bare host name
    /// (`wfl@launcher`, the default in a container whose host name has no dots).
    public static func isSenderAddress(_ text: String) -> Bool {
        text.utf8.count <= 254
            && text.wholeMatch(of: /[A-Za-z0-9.!#$%&'*+\/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?/) != nil
    }

    /// An address SMTP can carry as given: a plain local part and a dotted domain, nothing
    /// that could end the `RCPT TO:<…>` line or start another command.
    public static func isMailAddress(_ text: String) -> Bool {
        text.utf8.count <= 254
            && text.wholeMatch(
                of:
                    /[A-Za-z0-9.!#$%&'*+\/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+/
            ) != nil
    }
}

/// A notification claimed from the outbox for sending.
public struct OutgoingNotification: Sendable {
    public var id: Int64
    /// Stable across attempts: receivers drop repeats by it (a webhook's idempotency key,
    /// an e-mail's Message-ID).
    public var key: UUID
    /// Attempts so far, this one included.
    public var attempts: Int
    public var watcher: JSONValue
    public var workload: UUID
    public var project: String
    public var event: WorkloadEvent

    public init(id: Int64, key: UUID, attempts: Int, watcher: JSONValue, workload: UUID, project: String, event: WorkloadEvent) {
        self.id = id
        self.key = key
        self.attempts = attempts
        self.watcher = watcher
        self.workload = workload
        self.project = project
        self.event = event
    }
}

/// What became of one notification's attempt, as the outbox records it.
public enum NotificationResult: Sendable, Equatable {
    case sent
    /// Not accepted; try again at `at`.
    case retry(at: Date, error: String)
    /// Not sent, and never will be: the reason is logged on the workload.
    case gaveUp(error: String)
}

/// One attempt's result, for the outbox: which notification, which attempt of it.
public struct NotificationAttempt: Sendable, Equatable {
    public var id: Int64
    /// The notification's attempt count when it was claimed for this attempt.
    public var attempt: Int
    public var result: NotificationResult

    public init(id: Int64, attempt: Int, result: NotificationResult) {
        self.id = id
        self.attempt = attempt
        self.result = result
    }

    public init(_ notification: OutgoingNotification, _ result: NotificationResult) {
        self.init(id: notification.id, attempt: notification.attempts, result: result)
    }
}

/// What a receiver said to one attempt.
public enum SendOutcome: Sendable, Equatable {
    case accepted
    /// It may pass (an outage, a rate limit); `retryAfter` seconds when the receiver said.
    case failed(String, retryAfter: Double? = nil)
    /// Trying again will not help (no such channel, a bad address).
    case refused(String)
}

/// One way of telling watchers (Slack, e-mail, webhooks). Implementations never throw: every
/// failure is an outcome the outbox records.
public protocol NotificationChannel: Sendable {
    func send(_ message: NotificationMessage, to address: String) async -> SendOutcome
}

/// A notification's content, rendered from its event. The same text goes to every channel;
/// webhooks get the fields as JSON.
public struct NotificationMessage: Sendable {
    public var key: UUID
    public var workload: UUID
    public var project: String
    public var kind: String
    public var at: Date
    /// One line: "Workload 1b2c… (genomics) finished: 98 succeeded, 2 failed".
    public var summary: String
    /// The event's own message and, when the server has a public URL, a link.
    public var details: [String]
    public var data: JSONValue
    public var link: String?

    public init(_ notification: OutgoingNotification, publicURL: String?) {
        key = notification.key
        workload = notification.workload
        project = notification.project
        kind = notification.event.kind
        at = notification.event.at
        data = notification.event.data
        link = publicURL.map { "\($0)/ui/workload/\(notification.workload.uuidString.lowercased())" }
        let name = "Workload \(notification.workload.uuidString.lowercased().prefix(8)) (\(Self.oneLine(notification.project, limit: 80)))"
        let event = notification.event
        switch event.kind {
        case "started": summary = "\(name) started"
        case "finished": summary = "\(name) finished: \(Self.counts(event.data))"
        case "workflows":
            let failed = event.data[WorkflowStatus.failed.rawValue]?.intValue ?? 0
            summary = "\(name): \(failed) workflow\(failed == 1 ? "" : "s") failed"
        case "error": summary = "\(name) has failed to update \(event.data["consecutive"]?.intValue ?? 0) times in a row"
        case "quarantined": summary = "\(name) is quarantined: it cannot be updated until its problem is fixed"
        default: summary = "\(name): \(event.kind)"
        }
        details = [Self.oneLine(event.message, limit: 1000)] + (link.map { [$0] } ?? [])
    }

    /// Subject line and body as plain text.
    public var text: String { ([summary] + details).joined(separator: "\n") }

    /// The webhook body.
    public var json: JSONValue {
        [
            "id": .string(key.uuidString.lowercased()), "event": .string(kind), "at": Timestamp.json(at),
            "workload": .string(workload.uuidString.lowercased()), "project": .string(project),
            "summary": .string(summary), "message": .string(details.first ?? ""), "data": data,
            "link": link.map(JSONValue.string) ?? .null,
        ]
    }

    /// "98 succeeded, 2 failed", from a finished event's counts by status.
    static func counts(_ data: JSONValue) -> String {
        let parts = WorkflowStatus.allCases.compactMap { status -> String? in
            guard let n = data[status.rawValue]?.intValue, n > 0 else { return nil }
            return "\(n) \(status.rawValue.lowercased())"
        }
        return parts.isEmpty ? "no workflows" : parts.joined(separator: ", ")
    }

    /// Text that came from a request or a backend, made one bounded line (no header injection
    /// in an e-mail subject, no markup surprises in Slack): control characters and line
    /// separators become spaces, and at most `limit` Unicode scalars are kept (a limit in
    /// characters would let one character of a thousand combining marks through).
    public static func oneLine(_ text: String, limit: Int) -> String {
        var result = ""
        var kept = 0
        for scalar in text.unicodeScalars {
            guard kept < limit else { return result + "…" }
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) || scalar == "\u{2028}"
                || scalar == "\u{2029}"
            {
                if result.unicodeScalars.last != " " {
                    result.unicodeScalars.append(" ")
                    kept += 1
                }
            } else {
                result.unicodeScalars.append(scalar)
                kept += 1
            }
        }
        return result
    }
}

/// How the operator configured notifications (`WFL_SLACK_*`, `WFL_SMTP*`, `WFL_WEBHOOK_*`).
/// Watchers of a kind this server cannot send are refused at create, naming the watcher.
public struct NotificationSettings: Sendable {
    public var slackToken: String?
    public var slackAPI: String
    public var smtpServer: (host: String, port: Int)?
    public var mailFrom: String
    public var webhookSecret: [UInt8]?
    public var publicURL: String?
    /// Attempts and backoff of each notification.
    public var retry: RetryPolicy
    /// Problems reading the settings (a token file that cannot be read), for `wfl serve` to report.
    public var problems: [String] = []

    public init(_ settings: Settings) {
        func fileOrValue(_ file: Settings.Key, _ value: Settings.Key?, into problems: inout [String]) -> String? {
            if let path = settings[file] {
                do {
                    let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                    if text.isEmpty { problems.append("\(file.rawValue): \(path) is empty") }
                    return text.isEmpty ? nil : text
                } catch {
                    problems.append("\(file.rawValue): cannot read \(path)")
                    return nil
                }
            }
            return value.flatMap { settings[$0] }
        }
        var problems: [String] = []
        slackToken = fileOrValue(.slackTokenFile, .slackToken, into: &problems)
        slackAPI = settings.url(.slackAPI, default: "https://slack.com/api")
        if let server = settings[.smtpServer] {
            let parts = server.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) {
                smtpServer = (String(parts[0]), port)
            } else if parts.count == 1, !parts[0].isEmpty {
                smtpServer = (String(parts[0]), 25)
            } else {
                problems.append("\(Settings.Key.smtpServer.rawValue): expected host or host:port, got \(Constraint.excerpt(server))")
            }
        }
        let host = ProcessInfo.processInfo.hostName
        mailFrom = settings[.mailFrom] ?? "wfl@\(host.isEmpty ? "localhost" : host)"
        if smtpServer != nil && !WatcherAddress.isSenderAddress(mailFrom) {
            problems.append("\(Settings.Key.mailFrom.rawValue): \(Constraint.excerpt(mailFrom)) is not an address to send from")
        }
        webhookSecret = fileOrValue(.webhookSecretFile, nil, into: &problems).map { Array($0.utf8) }
        publicURL = settings[.publicURL].map { settings.url(.publicURL, default: $0) }
        retry = RetryPolicy(
            attempts: Int(settings.seconds(.notifyAttempts, default: 8, range: 1...100)),
            initialDelay: settings.seconds(.notifyRetrySeconds, default: 30, range: 0.1...3600), multiplier: 2, maxDelay: 3600)
        self.problems = problems
    }

    /// Why this server cannot send to watchers of `kind`; nil when it can.
    public func unavailable(_ kind: WatcherAddress.Kind) -> String? {
        let configured =
            switch kind {
            case .slack: slackToken != nil
            case .email: smtpServer != nil
            case .webhook: webhookSecret != nil
            }
        return configured ? nil : Self.unavailableMessage(kind)
    }

    private static func unavailableMessage(_ kind: WatcherAddress.Kind) -> String {
        switch kind {
        case .slack: "this server sends no Slack messages (its operator has not set WFL_SLACK_TOKEN_FILE or WFL_SLACK_TOKEN)"
        case .email: "this server sends no e-mail (its operator has not set WFL_SMTP_SERVER)"
        case .webhook: "this server calls no webhooks (its operator has not set WFL_WEBHOOK_SECRET_FILE)"
        }
    }
}
