import AsyncHTTPClient
import Foundation
import LauncherCore
import NIOCore
import NIOHTTP1

/// How a call to a backend failed. Every backend client throws these two, so the update loop
/// and the stages tell the cases apart the same way everywhere:
///
/// - `refused`: the backend answered that the request is wrong (4xx other than 408 and 429).
///   Trying again will not help: a launch fails, a create-time check is a 400.
/// - `unavailable`: the backend could not answer now (5xx, 408, 429, a timeout, a refused
///   connection, a reply that is not what its API promises). It may pass: ask again later.
package enum BackendError: Error, CustomStringConvertible {
    case refused(service: String, status: UInt, message: String?)
    case unavailable(service: String, reason: String)
    /// The operator's outbound policy does not let the launcher call this URL.
    case notAllowed(service: String, reason: String)

    package var status: UInt? {
        if case .refused(_, let status, _) = self { return status }
        return nil
    }

    /// Trying again will not help: the backend (or the launcher's own policy) said no.
    package var isRefused: Bool {
        switch self {
        case .refused, .notAllowed: true
        case .unavailable: false
        }
    }

    package var description: String {
        switch self {
        case .refused(let service, let status, let message): "\(service) answered HTTP \(status)" + (message.map { ": \($0)" } ?? "")
        case .unavailable(_, let reason): reason
        case .notAllowed(_, let reason): "not called: \(reason)"
        }
    }

    /// A backend's own words, made safe to show: colour codes and control characters
    /// removed, whitespace collapsed, at most `limit` characters.
    package static func sanitise(_ text: String, limit: Int = 300) -> String {
        let withoutEscapes = text.replacing(/\x1B\[[0-9;?]*[ -\/]*[@-~]/, with: "")
        var result = ""
        var lastWasSpace = false
        for scalar in withoutEscapes.unicodeScalars {
            let isSpace = scalar.properties.isWhitespace || scalar.value < 0x20 || scalar.value == 0x7F
            if isSpace {
                if !lastWasSpace && !result.isEmpty { result.append(" ") }
                lastWasSpace = true
            } else {
                result.unicodeScalars.append(scalar)
                lastWasSpace = false
            }
            if result.count > limit { break }
        }
        result = result.trimmingCharacters(in: .whitespaces)
        return result.count > limit ? String(result.prefix(limit)) + "…" : result
    }
}

/// The one HTTP client every backend stage shares (WES, Firecloud, Rawls, the data
/// repository, BigQuery, Google's token endpoint). Connection attempts are not retried inside
/// a request (AsyncHTTPClient's default retries them until the deadline, which made every
/// call to a server that was down hang for the whole timeout): a server that is down is
/// reported at once, and the launcher asks again on its next pass.
package enum BackendHTTP {
    package static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Replies larger than this are refused (a runaway listing must not exhaust memory).
    package static let maxReplyBytes = 64 << 20
}

/// A request body.
package enum BackendBody: Sendable {
    case json(JSONValue)
    case bytes(ByteBuffer, contentType: String)
}

/// Calls to one backend service: a timeout for each call, a retry policy for answers that may
/// pass, and replies decoded into the service's reply types.
package struct BackendClient: Sendable {
    /// For messages: "Firecloud", "the WES server".
    package let service: String
    package let timeout: TimeAmount
    package let retry: RetryPolicy
    /// Headers every call carries (authorisation), computed per call so tokens can rotate.
    package let headers: @Sendable () async throws -> [(String, String)]
    /// Where an error reply carries its message, first match wins.
    package let messageKeys: [String]
    /// For URLs a request chose: the hosts the operator lets the launcher call.
    package let outbound: OutboundPolicy?
    /// Replies larger than this are refused.
    package let maxReplyBytes: Int

    package init(
        service: String, timeout: TimeAmount, retry: RetryPolicy = .once, messageKeys: [String] = ["message"],
        outbound: OutboundPolicy? = nil, maxReplyBytes: Int = BackendHTTP.maxReplyBytes,
        headers: @escaping @Sendable () async throws -> [(String, String)] = { [] }
    ) {
        self.service = service
        self.outbound = outbound
        self.maxReplyBytes = maxReplyBytes
        self.timeout = timeout
        self.retry = retry
        self.messageKeys = messageKeys
        self.headers = headers
    }

    package struct Reply: Sendable {
        package let status: UInt
        package let body: ByteBuffer
        package var headers: HTTPHeaders = [:]

        package var json: JSONValue { body.readableBytes == 0 ? .null : ((try? JSONValue.parse(Data(body.readableBytesView))) ?? .null) }
        package var text: String { String(buffer: body) }
    }

    /// One request, whatever the status it is answered with (for replies that carry an error).
    package func send(_ method: HTTPMethod, _ url: String, body: BackendBody? = nil) async throws -> Reply {
        if let problem = outbound?.problem(url: url) { throw BackendError.notAllowed(service: service, reason: problem) }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in try await headers() { request.headers.add(name: name, value: value) }
        switch body {
        case .json(let value)?:
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: value.description))
        case .bytes(let buffer, let contentType)?:
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(buffer)
        case nil:
            break
        }
        let start = ContinuousClock.now
        do {
            let response = try await Self.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: maxReplyBytes)
            let code = response.status.code
            BackendMetrics.record(
                service,
                (200..<400).contains(code) ? .ok : (400..<500).contains(code) && code != 408 && code != 429 ? .refused : .unavailable,
                since: start)
            return Reply(status: code, body: bytes, headers: response.headers)
        } catch let error as BackendError {
            throw error
        } catch {
            BackendMetrics.record(service, .unavailable, since: start)
            throw BackendError.unavailable(service: service, reason: "\(service) did not answer \(method) \(url): \(Self.describe(error))")
        }
    }

    /// Sends the request; a read (GET, HEAD) whose pooled connection the server had closed
    /// while it sat idle is sent once more on a new one. Python's and Go's servers close idle
    /// keep-alive connections on their own schedule, and the race with a reused connection
    /// made a status poll fail now and then for no fault of the server. Writes are not resent:
    /// the server may have acted on them.
    static func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        do {
            return try await BackendHTTP.client.execute(request, timeout: timeout)
        } catch let error as HTTPClientError where error == .remoteConnectionClosed && [.GET, .HEAD].contains(request.method) {
            return try await BackendHTTP.client.execute(request, timeout: timeout)
        }
    }

    /// The JSON reply of a successful call. Answers that may pass are retried as `retry` says;
    /// refusals are thrown at once.
    package func json(_ method: HTTPMethod, _ url: String, body: BackendBody? = nil) async throws -> JSONValue {
        var lastProblem = ""
        for attempt in 1...retry.attempts {
            do {
                let reply = try await send(method, url, body: body)
                if (200..<300).contains(reply.status) { return reply.json }
                let message = self.message(reply)
                if (400..<500).contains(reply.status) && reply.status != 408 && reply.status != 429 {
                    throw BackendError.refused(service: service, status: reply.status, message: message)
                }
                lastProblem = "HTTP \(reply.status) from \(service)" + (message.map { ": \($0)" } ?? "")
            } catch let error as BackendError where error.isRefused {
                throw error
            } catch {
                lastProblem = "\(error)"
            }
            if retry.givesUp(after: attempt) { break }
            try await Task.sleep(for: .seconds(retry.delay(afterFailure: attempt)))
        }
        throw BackendError.unavailable(
            service: service, reason: retry.attempts > 1 ? "\(lastProblem) (after \(retry.attempts) tries)" : lastProblem)
    }

    /// A successful call's reply as `T`. A reply that does not fit the service's API is
    /// "unavailable": a server mid-upgrade may answer oddly once.
    package func decode<T: Decodable>(_ type: T.Type, _ method: HTTPMethod, _ url: String, body: BackendBody? = nil) async throws -> T {
        let reply = try await json(method, url, body: body)
        do {
            return try JSONValueDecoder.decode(type, from: reply)
        } catch {
            throw BackendError.unavailable(
                service: service, reason: "\(service) sent an unexpected reply to \(method) \(url): \(JSONValueDecoder.describe(error))")
        }
    }

    /// The error reply's own message (from the service's error shape), sanitised and short;
    /// never the body itself, which may be anything the far end chose to send.
    package func message(_ reply: Reply) -> String? {
        let json = reply.json
        for key in messageKeys {
            if let text = json[key]?.stringValue, !text.isEmpty { return BackendError.sanitise(text, limit: 200) }
        }
        return nil
    }

    /// AsyncHTTPClient's errors as a person would say them.
    package static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") { return "connection timed out" }
        if text.contains("deadlineExceeded") || text.contains("readTimeout") { return "no answer within the time limit" }
        return text
    }

    /// A path segment or query value, percent-encoded.
    package static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

/// A member that reads as nil when a backend sends something of another type (an `exit_code`
/// written as a string): one odd field must not make a whole reply unreadable.
@propertyWrapper
package struct Lenient<Value: Decodable & Sendable>: Decodable, Sendable {
    package var wrappedValue: Value?

    package init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    package init(from decoder: any Decoder) throws {
        wrappedValue = try? decoder.singleValueContainer().decode(Value.self)
    }
}

extension KeyedDecodingContainer {
    /// Lets a missing key read as nil for `@Lenient` members.
    package func decode<Value>(_ type: Lenient<Value>.Type, forKey key: Key) throws -> Lenient<Value> {
        try decodeIfPresent(type, forKey: key) ?? Lenient(wrappedValue: nil)
    }
}
