import AsyncHTTPClient
import Foundation
import LauncherCore
import NIOCore
import NIOHTTP1

/// The GA4GH Workflow Execution Service API (`/ga4gh/wes/v1`), as the WES executor uses it.
/// Every call has a timeout. `Refused` is the server saying no (4xx): retrying will not help.
/// `Unavailable` is anything that may pass (5xx, network, timeout): ask again later.
struct WESClient: Sendable {
    let base: String
    let timeout: TimeAmount
    let token: TokenSource?

    /// Where the bearer token comes from; read at each call, so it can rotate.
    enum TokenSource: Sendable, Equatable {
        case environment(String)
        case file(String)

        func read() throws -> String {
            switch self {
            case .environment(let name):
                guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                    throw Unavailable(description: "the token variable \(name) is not set")
                }
                return value
            case .file(let path):
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw Unavailable(description: "cannot read the token file \(path)")
                }
                return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
    }

    struct Refused: Error, CustomStringConvertible {
        let status: UInt
        let message: String
        var description: String { "HTTP \(status): \(message)" }
    }

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    struct Run: Sendable {
        var id: String
        var state: String
    }

    // MARK: Calls

    func serviceInfo() async throws -> JSONValue {
        try await request(.GET, "/service-info")
    }

    /// `POST /runs` (multipart form); returns the run id.
    func submit(fields: [(String, String)], attachment: (name: String, data: Data)?) async throws -> String {
        let boundary = "wfl-\(UUID().uuidString)"
        var body = ""
        for (name, value) in fields {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        var buffer = ByteBuffer(string: body)
        if let attachment {
            buffer.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"workflow_attachment\"; filename=\"\(attachment.name)\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            buffer.writeBytes(attachment.data)
            buffer.writeString("\r\n")
        }
        buffer.writeString("--\(boundary)--\r\n")
        let reply = try await request(.POST, "/runs", body: buffer, contentType: "multipart/form-data; boundary=\(boundary)")
        guard let id = reply["run_id"]?.stringValue, !id.isEmpty else {
            throw Unavailable(description: "the WES server accepted the run but returned no run_id: \(reply)")
        }
        return id
    }

    /// Every run the server lists, following `next_page_token`.
    func listRuns() async throws -> [String: String] {
        var runs: [String: String] = [:]
        var token = ""
        for _ in 0..<10_000 {
            let path = token.isEmpty ? "/runs?page_size=1000" : "/runs?page_size=1000&page_token=\(Self.escape(token))"
            let page = try await request(.GET, path)
            for run in page["runs"]?.arrayValue ?? page["workflows"]?.arrayValue ?? [] {
                if let id = run["run_id"]?.stringValue { runs[id] = run["state"]?.stringValue ?? "UNKNOWN" }
            }
            token = page["next_page_token"]?.stringValue ?? ""
            if token.isEmpty { break }
        }
        return runs
    }

    func status(_ run: String) async throws -> String {
        try await request(.GET, "/runs/\(Self.escape(run))/status")["state"]?.stringValue ?? "UNKNOWN"
    }

    func runLog(_ run: String) async throws -> JSONValue {
        try await request(.GET, "/runs/\(Self.escape(run))")
    }

    func cancel(_ run: String) async throws {
        _ = try await request(.POST, "/runs/\(Self.escape(run))/cancel")
    }

    // MARK: HTTP

    /// One client for the process. Connection attempts are not retried (the default retries
    /// until the request's deadline), so a server that is down is reported at once and the
    /// launcher asks again on its next pass.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    private func request(_ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, contentType: String? = nil) async throws -> JSONValue {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(try token.read())") }
        if let body { request.body = .bytes(body) }
        let status: UInt
        let text: String
        do {
            let response = try await Self.http.execute(request, timeout: timeout)
            status = response.status.code
            text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        } catch {
            throw Unavailable(description: "\(method) \(base + path) failed: \(error)")
        }
        let json = (try? JSONValue.parse(text)) ?? .null
        if (200..<300).contains(status) { return json }
        // WES errors are {"msg", "status_code"}; many servers answer problem+json {"title", "detail"}.
        let message = (json["msg"] ?? json["detail"] ?? json["title"] ?? json["message"])?.stringValue
            ?? String(text.prefix(500)).trimmingCharacters(in: .whitespacesAndNewlines)
        if (400..<500).contains(status) && status != 408 && status != 429 {
            throw Refused(status: status, message: message)
        }
        throw Unavailable(description: "HTTP \(status) from \(base + path): \(message)")
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "/?&=+"))) ?? text
    }
}
