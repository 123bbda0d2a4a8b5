import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LauncherCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Requests the HTTP parser cannot read (a lowercase method, a bare LF, control characters in
/// a header, a line longer than the decoder allows) get a JSON 400 like every other error,
/// and the connection is closed: Hummingbird's own answer is an empty 400.
final class ProtocolErrorResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // CONNECT asks for a tunnel, which this server never makes: refused and closed here.
        // (NIO frames any response to CONNECT without a body, so this one is headers only.)
        if case .head(let head) = unwrapInboundIn(data), head.method == .connect {
            if !answered {
                answered = true
                let response = HTTPResponse(
                    status: .methodNotAllowed,
                    headerFields: [
                        .allow: "GET, POST", .connection: "close", .contentType: "application/json; charset=utf-8",
                    ])
                context.writeAndFlush(wrapOutboundOut(.head(response)), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
            }
            return
        }
        if answered { return }
        context.fireChannelRead(data)
    }

    private var answered = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // The rest of a broken request keeps arriving (and failing to parse): answered once.
        guard !answered else { return }
        answered = true
        let body = ByteBuffer(
            string: JSONValue.object([
                "message": .string("the request is not valid HTTP/1.1 (\(Self.describe(parserError)))"),
                "details": ["reason": .string("\(parserError)")],
            ]).description + "\n")
        let head = HTTPResponse(
            status: .badRequest,
            headerFields: [
                .contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes), .connection: "close",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        // A lingering close: stop writing, let what the client is still sending drain for a
        // moment, then close. Closing at once would reset the connection over the unread bytes
        // (a 1 MB request line) and the client would never read the answer.
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            context.close(mode: .output, promise: nil)
            context.eventLoop.scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
        }
    }

    static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .invalidMethod: "unknown method"
        case .headerOverflow: "headers too large"
        case .invalidHeaderToken, .invalidConstant: "malformed header"
        case .invalidURL: "malformed request target"
        case .lfExpected: "lines must end with CRLF"
        default: "malformed request"
        }
    }
}

extension APIRoutes {
    /// The HTTP/1.1 server `wfl serve` runs: JSON for the parser's own errors too.
    public static var server: HTTPServerBuilder {
        .http1(configuration: .init(additionalChannelHandlers: [ProtocolErrorResponder()]))
    }
}
