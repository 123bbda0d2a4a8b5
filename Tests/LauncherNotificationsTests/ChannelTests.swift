import Foundation
import LauncherCore
import Testing

@testable import LauncherNotifications

@Suite struct ChannelTests {
    func message(project: String, eventMessage: String = "Workload started") -> NotificationMessage {
        NotificationMessage(
            OutgoingNotification(
                id: 1, key: UUID(), attempts: 1, watcher: ["email", "lab@example.org"], workload: UUID(), project: project,
                event: WorkloadEvent(id: 1, at: Date(), kind: "started", message: eventMessage, data: .null)),
            publicURL: "https://wfl.example.org")
    }

    /// Nothing from a request can add a header or end the message: the subject is one line
    /// (encoded words of at most 75 characters when not ASCII), the body is base64 in lines of
    /// at most 76, and every line is within SMTP's limit.
    @Test func anEmailCarriesRequestTextWithoutInjection() throws {
        let hostile = message(
            project: "lab\r\nBcc: everyone@example.org\r\n\r\n.\r\nMAIL FROM:<x@y.org>", eventMessage: String(repeating: "é", count: 3000))
        let mail = EmailChannel.render(hostile, from: "wfl@launcher", to: "lab@example.org")
        let lines = mail.components(separatedBy: "\r\n")
        let headers = lines.prefix { !$0.isEmpty }
        #expect(!headers.contains { $0.hasPrefix("Bcc:") } && !lines.contains("."), "\(headers)")
        #expect(headers.contains { $0.hasPrefix("Subject: Workload ") && $0.contains("Bcc: everyone@example.org") })
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
        let body = lines.drop { !$0.isEmpty }.dropFirst()
        #expect(body.allSatisfy { $0.count <= 76 && $0.allSatisfy { $0.isLetter || $0.isNumber || "+/=".contains($0) } })
        let decoded = try #require(Data(base64Encoded: body.joined()).flatMap { String(data: $0, encoding: .utf8) })
        #expect(decoded.hasPrefix("Workload ") && decoded.contains("https://wfl.example.org/ui/workload/"))

        let subject = EmailChannel.subject("Überwachung " + String(repeating: "ü", count: 300))
        let words = subject.components(separatedBy: "\r\n ")
        #expect(words.count > 1 && words.allSatisfy { $0.hasPrefix("=?UTF-8?B?") && $0.hasSuffix("?=") && $0.count <= 75 })
        #expect(EmailChannel.subject("plain") == "plain")
    }

    /// A webhook URL's query (which may carry the receiver's token) stays out of error text.
    @Test func webhookErrorsLeaveTheQueryOut() {
        let url = "https://hooks.example.org/wfl?token=s3cret"
        let text = WebhookChannel.redacted("the webhook receiver did not answer POST \(url): connection refused", url: url)
        #expect(!text.contains("s3cret") && text.contains("https://hooks.example.org/wfl?…"))
        #expect(WebhookChannel.redacted("no url here", url: "https://a.example.org/x") == "no url here")
        // The signature is the HMAC-SHA256 of the body under the key (RFC 4231 test case 2).
        #expect(
            WebhookChannel.signature(Array("what do ya want for nothing?".utf8), secret: Array("Jefe".utf8))
                == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    /// Slack reads &, < and > as markup: text from a request cannot make a link or a mention.
    @Test func slackTextIsEscaped() {
        #expect(
            SlackChannel.escape("<!channel> & <https://evil.example|click>") == "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;")
    }
}
