import Foundation
import LauncherCore
import LauncherStageSupport
import NIOCore
import NIOHTTP1

/// Slack's Web API `chat.postMessage` with a bot token. Slack answers HTTP 200 with
/// `{"ok": true, "ts": …}` or `{"ok": false, "error": "channel_not_found"}`, and HTTP 429 with
/// `Retry-After` when rate-limited.
struct SlackChannel: NotificationChannel {
    let api: String
    let token: String

    /// Errors Slack documents as passing, and the token's own troubles (the operator's to fix,
    /// after which the messages should still go out): try again later, within the attempt
    /// budget. Any other `error` (channel_not_found, not_in_channel, is_archived) is for good.
    static let transient: Set<String> = [
        "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
        "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope",
    ]

    func send(_ message: NotificationMessage, to channel: String) async -> SendOutcome {
        let client = BackendClient(service: "Slack", timeout: .seconds(20), messageKeys: ["error"], maxReplyBytes: 1 << 20) { [token] in
            [("Authorization", "Bearer \(token)")]
        }
        let body: JSONValue = [
            "channel": .string(channel), "text": .string(Self.escape(message.text)), "unfurl_links": false, "unfurl_media": false,
        ]
        let reply: BackendClient.Reply
        do {
            reply = try await client.send(.POST, "\(api)/chat.postMessage", body: .json(body))
        } catch {
            return .failed("\(error)")
        }
        if reply.status == 429 || reply.status >= 500 || reply.status == 401 || reply.status == 403 {
            return .failed("Slack answered HTTP \(reply.status)", retryAfter: reply.headers.first(name: "Retry-After").flatMap(Double.init))
        }
        guard reply.status == 200 else { return .refused("Slack answered HTTP \(reply.status)") }
        if reply.json["ok"] == true { return .accepted }
        let error = reply.json["error"]?.stringValue.map { BackendError.sanitise($0, limit: 100) } ?? "an answer without \"ok\""
        return Self.transient.contains(error) ? .failed("Slack: \(error)") : .refused("Slack: \(error)")
    }

    /// Slack reads `&`, `<` and `>` as markup (links, mentions): text from a request is escaped.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
