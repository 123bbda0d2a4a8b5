import Foundation
import LauncherCore
import NIOCore
import NIOPosix

/// E-mail through the operator's SMTP relay (RFC 5321): EHLO, MAIL FROM, RCPT TO, DATA, QUIT,
/// one connection per message. No AUTH or STARTTLS: the launcher hands mail to a relay beside
/// it (postfix, the site's smarthost) that carries it on. A 4xx answer may pass (the outbox
/// tries again); a 5xx answer is for good.
struct EmailChannel: NotificationChannel {
    let host: String
    let port: Int
    let from: String

    struct Reply: Error, CustomStringConvertible {
        let code: Int
        let text: String
        let step: String
        var description: String { "the SMTP relay answered \(step) with \(code) \(text)" }
    }

    struct Closed: Error, CustomStringConvertible {
        var description: String { "the SMTP relay closed the connection" }
    }

    func send(_ message: NotificationMessage, to address: String) async -> SendOutcome {
        guard WatcherAddress.isMailAddress(address) else {
            return .refused("\(Constraint.excerpt(address)) is not an address SMTP can carry")
        }
        guard WatcherAddress.isSenderAddress(from) else {
            return .refused("the sender \(Constraint.excerpt(from)) (WFL_MAIL_FROM) is not an address SMTP can carry")
        }
        do {
            try await deliver(Self.render(message, from: from, to: address), to: address)
            return .accepted
        } catch let reply as Reply {
            let text = NotificationMessage.oneLine(reply.description, limit: 300)
            return reply.code >= 500 ? .refused(text) : .failed(text)
        } catch {
            return .failed("the SMTP relay \(host):\(port) did not answer: \(NotificationMessage.oneLine("\(error)", limit: 200))")
        }
    }

    private func deliver(_ data: String, to address: String) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var replies = ReplyReader(inbound.makeAsyncIterator())
            func command(_ line: String?, _ step: String, expect accepted: ClosedRange<Int>) async throws {
                if let line { try await outbound.write(ByteBuffer(string: line + "\r\n")) }
                let (code, text) = try await replies.next()
                guard accepted.contains(code) else { throw Reply(code: code, text: text, step: step) }
            }
            try await command(nil, "the greeting", expect: 220...220)
            try await command("EHLO \(Self.heloName)", "EHLO", expect: 250...250)
            try await command("MAIL FROM:<\(from)>", "MAIL FROM", expect: 250...250)
            try await command("RCPT TO:<\(address)>", "RCPT TO", expect: 250...251)
            try await command("DATA", "DATA", expect: 354...354)
            try await command(data + "\r\n.", "the message", expect: 250...250)
            try? await outbound.write(ByteBuffer(string: "QUIT\r\n"))
        }
    }

    static var heloName: String {
        let name = ProcessInfo.processInfo.hostName
        return name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) && !name.isEmpty
            ? name : "localhost"
    }

    /// The message: headers, a blank line, the text with CRLF line ends and dot-stuffed lines.
    static func render(_ message: NotificationMessage, from: String, to: String) -> String {
        let date = DateFormatter()
        date.locale = Locale(identifier: "en_US_POSIX")
        date.timeZone = TimeZone(identifier: "UTC")
        date.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let key = message.key.uuidString.lowercased()
        let headers = [
            "From: Workflow Launcher <\(from)>", "To: <\(to)>", "Subject: \(subject(message.summary))",
            "Date: \(date.string(from: Date()))", "Message-ID: <\(key)@wfl>", "X-WFL-Notification: \(key)",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64",
        ]
        // base64 in 76-character lines: any text, any length of line, through any relay (no
        // 8BITMIME needed, no line over SMTP's 998, nothing to dot-stuff).
        let encoded = Data(message.text.replacingOccurrences(of: "\n", with: "\r\n").utf8).base64EncodedString()
        var body: [String] = []
        var rest = Substring(encoded)
        while !rest.isEmpty {
            body.append(String(rest.prefix(76)))
            rest = rest.dropFirst(76)
        }
        return (headers + [""] + body).joined(separator: "\r\n")
    }

    /// A header value on one line; non-ASCII text as RFC 2047 encoded words of at most 75
    /// characters each (45 bytes of UTF-8, never split inside a character), folded.
    static func subject(_ text: String) -> String {
        let line = NotificationMessage.oneLine(text, limit: 200)
        if line.unicodeScalars.allSatisfy(\.isASCII) { return line }
        var words: [String] = []
        var chunk = ""
        for scalar in line.unicodeScalars {
            if chunk.utf8.count + String(scalar).utf8.count > 45 {
                words.append(chunk)
                chunk = ""
            }
            chunk.unicodeScalars.append(scalar)
        }
        if !chunk.isEmpty { words.append(chunk) }
        return words.map { "=?UTF-8?B?\(Data($0.utf8).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }
}

/// SMTP replies from the relay's bytes: `250-…` lines continue a reply, `250 …` ends it.
/// Bounded: a relay that sends endless text is cut off.
struct ReplyReader {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var pending: [UInt8] = []

    init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.iterator = iterator }

    mutating func next() async throws -> (code: Int, text: String) {
        var text: [String] = []
        while true {
            let line = try await nextLine()
            let bytes = Array(line.utf8)
            guard bytes.count >= 3, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)) else {
                throw EmailChannel.Reply(code: 0, text: NotificationMessage.oneLine(line, limit: 100), step: "with something not SMTP")
            }
            text.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
            if bytes.count == 3 || bytes[3] != UInt8(ascii: "-") { return (code, text.joined(separator: " ")) }
            if text.count > 100 { throw EmailChannel.Reply(code: 0, text: "a reply of over 100 lines", step: "with") }
        }
    }

    private mutating func nextLine() async throws -> String {
        while true {
            if let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(pending[..<end])
                pending.removeFirst(end + 1)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard pending.count < 65536 else { throw EmailChannel.Reply(code: 0, text: "a line of over 64 KiB", step: "with") }
            guard let buffer = try await iterator.next() else { throw EmailChannel.Closed() }
            pending.append(contentsOf: buffer.readableBytesView)
        }
    }
}
