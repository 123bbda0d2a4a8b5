import Crypto
import Foundation
import LauncherCore
import LauncherStageSupport
import NIOCore
import NIOHTTP1

/// A POST of the notification as JSON to the watcher's URL, signed with the operator's key:
/// `X-WFL-Signature: sha256=<hex HMAC-SHA256 of the body>`. `X-WFL-Delivery` and
/// `Idempotency-Key` carry the notification's id, the same on every attempt, so a receiver
/// drops repeats. The URL is checked against the outbound policy on every call (its name may
/// resolve elsewhere since the workload was created); redirects are not followed.
struct WebhookChannel: NotificationChannel {
    let secret: [UInt8]
    let outbound: OutboundPolicy

    init(secret: [UInt8], settings: Settings) {
        self.secret = secret
        outbound = OutboundPolicy(settings)
    }

    /// An error's text with the URL's query left out: a receiver's URL may carry a token
    /// (`?key=…`), and the text goes on the workload's event log and the server log.
    static func redacted(_ text: String, url: String) -> String {
        guard var components = URLComponents(string: url), components.query != nil else { return text }
        components.query = nil
        return text.replacingOccurrences(of: url, with: (components.string ?? "the receiver") + "?…")
    }

    static func signature(_ body: [UInt8], secret: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    func send(_ message: NotificationMessage, to url: String) async -> SendOutcome {
        // The stored URL is checked again as at create: a row written by an older version, or
        // changed in the database, must not reach a scheme or host a request could not name.
        if let problem = WatcherAddress.webhookProblem(url) { return .refused(problem) }
        let body = Array(message.json.description.utf8)
        let key = message.key.uuidString.lowercased()
        let headers = [
            ("X-WFL-Signature", Self.signature(body, secret: secret)), ("X-WFL-Event", message.kind),
            ("X-WFL-Delivery", key), ("Idempotency-Key", key), ("User-Agent", "wfl/\(LauncherVersion.current)"),
        ]
        // The answer is not used: a few KiB of it at most (anyone may run a receiver).
        let client = BackendClient(service: "the webhook receiver", timeout: .seconds(20), outbound: outbound, maxReplyBytes: 64 << 10) {
            headers
        }
        let reply: BackendClient.Reply
        do {
            reply = try await client.send(.POST, url, body: .bytes(ByteBuffer(bytes: body), contentType: "application/json"))
        } catch let error as BackendError where error.isRefused {
            return .refused(Self.redacted("\(error)", url: url))
        } catch {
            return .failed(Self.redacted("\(error)", url: url))
        }
        switch reply.status {
        case 200..<300: return .accepted
        case 408, 429, 500...:
            return .failed(
                "the webhook receiver answered HTTP \(reply.status)",
                retryAfter: reply.headers.first(name: "Retry-After").flatMap(Double.init))
        case 300..<400: return .refused("the webhook receiver answered HTTP \(reply.status) (redirects are not followed)")
        default: return .refused("the webhook receiver answered HTTP \(reply.status)")
        }
    }
}
