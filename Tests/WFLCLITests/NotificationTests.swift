import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// What the fake Slack and the webhook receiver were sent, and how they answered.
final class Received: @unchecked Sendable {
    struct Request {
        var headers: [String: String]
        var body: String
        var status: Int
    }

    private let lock = NSLock()
    private var requests: [Request] = []

    func add(_ request: Request) { lock.withLock { requests.append(request) } }
    var all: [Request] { lock.withLock { requests } }
}

/// A stand-in for Slack's Web API `chat.postMessage`, with Slack's real shapes: its first call
/// is rate-limited (HTTP 429, `Retry-After: 1`), channel CMISSING is `{"ok": false, "error":
/// "channel_not_found"}`, a wrong token `invalid_auth`, anything else `{"ok": true, "ts": …}`.
func fakeSlack(_ received: Received, token: String) -> Router<BasicRequestContext> {
    let router = Router()
    router.post("api/chat.postMessage") { request, _ -> Response in
        let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
        let json = (try? JSONValue.parse(body)) ?? .null
        let first = received.all.isEmpty
        let (status, reply): (HTTPResponse.Status, String) =
            if first { (.tooManyRequests, "") } else if request.headers[.authorization] != "Bearer \(token)" {
                (.ok, #"{"ok": false, "error": "invalid_auth"}"#)
            } else if json["channel"] == "CMISSING" { (.ok, #"{"ok": false, "error": "channel_not_found"}"#) } else {
                (.ok, #"{"ok": true, "channel": "C0123ABC", "ts": "1700000000.000100"}"#)
            }
        received.add(.init(headers: [:], body: body, status: Int(status.code)))
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if first { headers[.retryAfter] = "1" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: reply)))
    }
    return router
}

/// A webhook receiver that checks each body's HMAC-SHA256 signature against the shared key,
/// answers its first request 503 (so the launcher must try again, with the same delivery id)
/// and 401 to a bad signature.
func webhookReceiver(_ received: Received, secret: String) -> Router<BasicRequestContext> {
    let router = Router()
    router.post("hook") { request, _ -> Response in
        let bytes = try await request.body.collect(upTo: 1 << 20)
        let body = Array(bytes.readableBytesView)
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        let expected = "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
        let signature = request.headers[HTTPField.Name("X-WFL-Signature")!] ?? ""
        let status: HTTPResponse.Status = signature != expected ? .unauthorized : received.all.isEmpty ? .serviceUnavailable : .noContent
        var headers: [String: String] = ["signature-ok": signature == expected ? "yes" : "no"]
        for name in ["X-WFL-Delivery", "Idempotency-Key", "X-WFL-Event", "Content-Type"] {
            headers[name] = request.headers[HTTPField.Name(name)!]
        }
        received.add(.init(headers: headers, body: String(decoding: body, as: UTF8.self), status: Int(status.code)))
        return Response(status: status)
    }
    return router
}

@Suite struct NotificationTests {
    /// A workload with Slack, e-mail and webhook watchers, run by `wfl serve`: each watcher is
    /// told it started, that a workflow failed (one message) and that it finished with its
    /// counts; a rate limit and a 503 are retried (same delivery id), a missing channel and a
    /// refused address are given up at once with the reason on the workload's event log.
    @Test(.timeLimit(.minutes(3)))
    func slackEmailAndWebhookWatchersAreToldThroughTheOutbox() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let smtp = env["WFL_TEST_SMTP"], let mailDir = env["WFL_TEST_SMTP_DIR"] else {
            Issue.record("WFL_TEST_SMTP is not set: run the tests with scripts/test.sh, which starts aiosmtpd")
            return
        }
        let (slackCalls, hookCalls) = (Received(), Received())
        let slackPort = ServeProcess.freePort(), hookPort = ServeProcess.freePort()
        let slack = Application(
            router: fakeSlack(slackCalls, token: "xoxb-test"), configuration: .init(address: .hostname("127.0.0.1", port: slackPort)))
        let hooks = Application(
            router: webhookReceiver(hookCalls, secret: "s3cret-key"), configuration: .init(address: .hostname("127.0.0.1", port: hookPort)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await slack.runService() }
            group.addTask { try await hooks.runService() }
            defer { group.cancelAll() }
            try await TestLauncher.with { launcher in
                let secret = launcher.home.appendingPathComponent("webhook.key")
                try "s3cret-key\n".write(to: secret, atomically: true, encoding: .utf8)
                let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
                let serve = ServeProcess(
                    wfl: wfl, home: launcher.home,
                    extra: [
                        "WFL_SLACK_TOKEN": "xoxb-test", "WFL_SLACK_API": "http://127.0.0.1:\(slackPort)/api",
                        "WFL_SMTP_SERVER": smtp, "WFL_MAIL_FROM": "wfl@launcher.test",
                        "WFL_WEBHOOK_SECRET_FILE": secret.path, "WFL_PUBLIC_URL": "https://wfl.example.org/",
                        "WFL_NOTIFY_RETRY_SECONDS": "0.5",
                    ])
                guard await serve.requireHealthy() else { return }
                let address = "lab-\(UUID().uuidString.prefix(8).lowercased())@example.org"
                let watchers: JSONValue = [
                    ["slack", "C0123ABC", "#genomics"], ["slack", "CMISSING"], ["email", .string(address)],
                    ["email", "nobody@reject.example.org"], ["webhook", .string("http://127.0.0.1:\(hookPort)/hook")],
                ]
                let request = TestLauncher.request(
                    source: TestLauncher.items(3), executor: ["name": "Mock", "failWhen": ["n": 1]], watchers: watchers)
                let created = try await serve.http(.POST, "/api/v1/exec", request)
                #expect(created.status == 200, "\(created.text)")
                let uuid = try #require(created.json["uuid"]?.stringValue)

                // 3 messages × 5 watchers: 9 accepted, 6 given up (CMISSING and the refused address).
                var events: [JSONValue] = []
                for _ in 0..<240 {
                    events = try await serve.http(.GET, "/api/v1/workload/\(uuid)/events?limit=1000").json.arrayValue ?? []
                    let failed = events.filter { $0["kind"] == "notification-failed" }.count
                    let mail = Self.mail(in: mailDir, to: address)
                    let slackOK = slackCalls.all.filter { $0.status == 200 && $0.body.contains("C0123ABC") }.count
                    let hooksOK = hookCalls.all.filter { $0.status == 204 }.count
                    if failed >= 6 && mail.count >= 3 && slackOK >= 3 && hooksOK >= 3 { break }
                    try await Task.sleep(for: .milliseconds(250))
                }
                let link = "https://wfl.example.org/ui/workload/\(uuid)"

                // Slack: one rate-limited call, retried; each message to C0123ABC once.
                #expect(slackCalls.all.first?.status == 429)
                let posted = slackCalls.all.filter { $0.status == 200 }.compactMap { try? JSONValue.parse($0.body) }
                let toChannel = posted.filter { $0["channel"] == "C0123ABC" }.compactMap { $0["text"]?.stringValue }
                #expect(toChannel.count == 3, "\(toChannel)")
                #expect(toChannel.contains { $0.contains("started") && $0.contains(link) })
                #expect(toChannel.contains { $0.contains("1 workflow failed") })
                #expect(toChannel.contains { $0.contains("finished: 2 succeeded, 1 failed") }, "\(toChannel)")

                // E-mail, through the real SMTP server: three messages with stable ids.
                let mail = Self.mail(in: mailDir, to: address)
                #expect(mail.count == 3, "\(mail.count) messages to \(address)")
                #expect(mail.allSatisfy { $0.contains("From: Workflow Launcher <wfl@launcher.test>") && $0.contains("Message-ID: <") })
                #expect(
                    mail.contains { $0.contains("Subject: Workload \(uuid.prefix(8)) (") && $0.contains("finished: 2 succeeded, 1 failed") }
                )

                // Webhooks: signed, the 503'd one resent with the same delivery id, three accepted.
                let calls = hookCalls.all
                #expect(calls.allSatisfy { $0.headers["signature-ok"] == "yes" }, "every body is signed with the key")
                #expect(calls.first?.status == 503)
                let accepted = calls.filter { $0.status == 204 }
                #expect(Set(accepted.compactMap { $0.headers["X-WFL-Delivery"] }).count == 3)
                #expect(accepted.contains { $0.headers["X-WFL-Delivery"] == calls.first?.headers["X-WFL-Delivery"] })
                #expect(accepted.allSatisfy { $0.headers["Idempotency-Key"] == $0.headers["X-WFL-Delivery"] })
                let bodies = accepted.compactMap { try? JSONValue.parse($0.body) }
                #expect(Set(bodies.compactMap { $0["event"]?.stringValue }) == ["started", "workflows", "finished"])
                #expect(bodies.allSatisfy { $0["workload"]?.stringValue == uuid && $0["link"]?.stringValue == link })
                #expect(bodies.first { $0["event"] == "finished" }?["data"] == ["Succeeded": 2, "Failed": 1])

                // Given up at once, the reason on the workload.
                let failed = events.filter { $0["kind"] == "notification-failed" }.compactMap { $0["message"]?.stringValue }
                #expect(failed.filter { $0.contains("slack CMISSING") && $0.contains("channel_not_found") }.count == 3, "\(failed)")
                #expect(failed.filter { $0.contains("nobody@reject.example.org") && $0.contains("550") }.count == 3, "\(failed)")
                let result = try await serve.stop()
                #expect(result.status == 0, "\(result.stderr.suffix(2000))")
            }
        }
    }

    /// A watcher this server cannot send to, or a webhook aimed where the operator forbids, is
    /// a 400 at create naming `watchers[i]`, and nothing is stored.
    @Test func badWatchersAre400sNamingTheWatcher() async throws {
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let serve = ServeProcess(wfl: wfl, home: launcher.home, extra: ["WFL_SLACK_TOKEN": "xoxb-test"])
            guard await serve.requireHealthy() else { return }
            let cases: [(JSONValue, String, String)] = [
                ([["slack", "C0123ABC"], ["email", "lab@example.org"]], "watchers[1]", "WFL_SMTP_SERVER"),
                ([["slack", "C0123ABC"], ["webhook", "https://hooks.example.org/x"]], "watchers[1]", "WFL_WEBHOOK_SECRET_FILE"),
                ([["slack", "not-a-channel"]], "watchers[0]", "channelId"),
                ([["pager", "x"]], "watchers[0]", "unknown watcher type"),
            ]
            for (watchers, field, message) in cases {
                let request = TestLauncher.request(source: TestLauncher.items(1), executor: ["name": "Mock"], watchers: watchers)
                let reply = try await serve.http(.POST, "/api/v1/create", request)
                #expect(reply.status == 400, "\(watchers): \(reply.text)")
                #expect(reply.json["details"]?["field"]?.stringValue == field, "\(reply.text)")
                #expect(reply.text.contains(message), "\(reply.text)")
            }
            let listing = try await serve.http(.GET, "/api/v1/workload").json
            #expect(listing.arrayValue?.isEmpty == true, "nothing stored: \(listing)")
            _ = try await serve.stop()
        }
    }

    /// The messages the SMTP server wrote for `address`.
    static func mail(in folder: String, to address: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.filter { $0.hasSuffix(".eml") }.compactMap { try? String(contentsOfFile: "\(folder)/\($0)", encoding: .utf8) }
            .filter { $0.contains("X-Envelope-To: \(address)") }
    }
}
