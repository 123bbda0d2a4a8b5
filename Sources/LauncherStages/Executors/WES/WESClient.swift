import Foundation
import LauncherCore
import LauncherStageSupport
import NIOCore
import NIOHTTP1

/// The GA4GH Workflow Execution Service API (`/ga4gh/wes/v1`), as the WES executor uses it:
/// one method per call, each answering with the reply types below. Errors are
/// `BackendError`s: `refused` is the server saying no (4xx), `unavailable` anything that may
/// pass. No call is retried within a tick: the launcher asks again on its next pass.
struct WESClient: Sendable {
    let base: String
    let http: BackendClient

    init(base: String, timeout: TimeAmount, token: Secrets.Reference?, settings: Settings) {
        self.base = base
        let secrets = Secrets(settings)
        // WES errors are {"msg", "status_code"}; many servers answer problem+json {"title", "detail"}.
        // The URL is the request's choice: calls go only where the operator's outbound policy allows.
        http = BackendClient(
            service: "the WES server", timeout: timeout, messageKeys: ["msg", "detail", "title", "message"],
            outbound: OutboundPolicy(settings)
        ) {
            guard let token else { return [] }
            return [("Authorization", "Bearer \(try secrets.value(token))")]
        }
    }

    // MARK: Calls

    func serviceInfo() async throws -> WESServiceInfo {
        try await http.decode(WESServiceInfo.self, .GET, base + "/service-info")
    }

    /// `POST /runs` (multipart form); returns the run id.
    func submit(fields: [(String, String)], attachments: [(name: String, data: Data)]) async throws -> String {
        let boundary = "wfl-\(UUID().uuidString)"
        var buffer = ByteBuffer()
        for (name, value) in fields {
            buffer.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n")
        }
        for attachment in attachments {
            buffer.writeString(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"workflow_attachment\"; filename=\"\(attachment.name)\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            buffer.writeBytes(attachment.data)
            buffer.writeString("\r\n")
        }
        buffer.writeString("--\(boundary)--\r\n")
        let reply = try await http.decode(
            WESRunID.self, .POST, base + "/runs",
            body: .bytes(buffer, contentType: "multipart/form-data; boundary=\(boundary)"))
        guard let id = reply.runId, !id.isEmpty else {
            throw BackendError.unavailable(service: http.service, reason: "the WES server accepted the run but returned no run_id")
        }
        return id
    }

    /// Every run the server lists (id → state), following `next_page_token`.
    func listRuns() async throws -> [String: String] {
        var runs: [String: String] = [:]
        var token = ""
        for _ in 0..<10_000 {
            let path = token.isEmpty ? "/runs?page_size=1000" : "/runs?page_size=1000&page_token=\(BackendClient.escape(token))"
            let page = try await http.decode(WESRunList.self, .GET, base + path)
            for run in page.runs ?? page.workflows ?? [] {
                if let id = run.runId { runs[id] = run.state ?? "UNKNOWN" }
            }
            token = page.nextPageToken ?? ""
            if token.isEmpty { break }
        }
        return runs
    }

    func status(_ run: String) async throws -> String {
        try await http.decode(WESRunStatus.self, .GET, base + "/runs/\(BackendClient.escape(run))/status").state ?? "UNKNOWN"
    }

    func runLog(_ run: String) async throws -> WESRunLog {
        try await http.decode(WESRunLog.self, .GET, base + "/runs/\(BackendClient.escape(run))")
    }

    func cancel(_ run: String) async throws {
        _ = try await http.json(.POST, base + "/runs/\(BackendClient.escape(run))/cancel")
    }
}

// MARK: - Replies (WES 1.x)

struct WESServiceInfo: Decodable, Sendable {
    struct TypeVersions: Decodable, Sendable {
        var workflowTypeVersion: [String]?
        enum CodingKeys: String, CodingKey { case workflowTypeVersion = "workflow_type_version" }
    }

    var workflowTypeVersions: [String: TypeVersions]?
    enum CodingKeys: String, CodingKey { case workflowTypeVersions = "workflow_type_versions" }
}

struct WESRunID: Decodable, Sendable {
    @Lenient var runId: String?
    enum CodingKeys: String, CodingKey { case runId = "run_id" }
}

struct WESRunList: Decodable, Sendable {
    struct Run: Decodable, Sendable {
        @Lenient var runId: String?
        @Lenient var state: String?
        enum CodingKeys: String, CodingKey { case runId = "run_id", state }
    }

    var runs: [Run]?
    /// Early servers called the list `workflows`.
    var workflows: [Run]?
    @Lenient var nextPageToken: String?
    enum CodingKeys: String, CodingKey { case runs, workflows, nextPageToken = "next_page_token" }
}

struct WESRunStatus: Decodable, Sendable {
    @Lenient var state: String?
}

struct WESRunLog: Decodable, Sendable {
    struct Request: Decodable, Sendable {
        @Lenient var tags: [String: JSONValue]?
    }

    struct Log: Decodable, Sendable {
        @Lenient var exitCode: Int?
        @Lenient var stdout: String?
        @Lenient var stderr: String?
        enum CodingKeys: String, CodingKey { case exitCode = "exit_code", stdout, stderr }
    }

    @Lenient var request: Request?
    @Lenient var state: String?
    @Lenient var runLog: Log?
    /// Free-form: kept exactly as the server wrote it.
    var outputs: JSONValue?
    enum CodingKeys: String, CodingKey { case request, state, runLog = "run_log", outputs }
}
