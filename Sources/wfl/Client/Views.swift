import Foundation
import LauncherCore

/// What the operator commands show, read from the API's JSON: the service layer's `.json` on
/// the database, the server's answer over HTTP. Both paths print the same text because both
/// render these, and `--json` prints `json` itself, the API's own shape.
protocol APIView: Decodable, Sendable {
    var json: JSONValue { get set }
}

extension APIView {
    /// Decodes `json`; an answer that does not fit is the server's fault, not the user's.
    static func read(_ json: JSONValue) throws -> Self {
        do {
            var view = try JSONValueDecoder.decode(Self.self, from: json)
            view.json = json
            return view
        } catch {
            throw LauncherError(
                .unavailable,
                "the server sent an answer this wfl cannot read (\(JSONValueDecoder.describe(error))); are both the same version?")
        }
    }
}

extension Array where Element: APIView {
    static func readAll(_ json: [JSONValue]) throws -> [Element] { try json.map(Element.read) }
}

struct WorkloadSummary: APIView {
    struct LastError: Decodable, Sendable {
        let message: String
        let at: String?
        let consecutive: Int?
    }

    var json: JSONValue = .null
    let uuid: String
    let project: String
    let state: String
    let source: JSONObject
    let executor: JSONObject
    let sink: JSONObject
    let labels: [String]
    let created: String
    let started: String?
    let stopped: String?
    let aborted: String?
    let finished: String?
    let workflows: [String: Int]
    let lastError: LastError?

    private enum CodingKeys: String, CodingKey {
        case uuid, project, state, source, executor, sink, labels, created, started, stopped, aborted, finished, workflows, lastError
    }

    var counts: [WorkflowStatus: Int] {
        var counts: [WorkflowStatus: Int] = [:]
        for status in WorkflowStatus.allCases { counts[status] = workflows[status.rawValue] ?? 0 }
        return counts
    }

    var total: Int { workflows["total"] ?? counts.values.reduce(0, +) }
    var isFinished: Bool { finished != nil }
    /// Some workflow failed or was aborted: `exec --wait` exits 3.
    var hasFailures: Bool { (workflows[WorkflowStatus.failed.rawValue] ?? 0) + (workflows[WorkflowStatus.aborted.rawValue] ?? 0) > 0 }
}

struct WorkflowSummary: APIView {
    var json: JSONValue = .null
    let uuid: String
    let status: String
    let attempt: Int
    let externalId: String?
    let updated: String?
    let error: WorkflowError?
    let deliveryError: String?
    /// Only when the workflow was asked for on its own.
    let workload: String?

    private enum CodingKeys: String, CodingKey { case uuid, status, attempt, externalId, updated, error, deliveryError, workload }

    var isFinal: Bool { WorkflowStatus(rawValue: status)?.isFinal ?? false }
}

struct EventSummary: APIView {
    var json: JSONValue = .null
    let at: String
    let kind: String
    let message: String
    let by: String?

    private enum CodingKeys: String, CodingKey { case at, kind, message, by }
}

struct TokenSummary: APIView {
    var json: JSONValue = .null
    let name: String
    let role: String
    let created: String
    let createdBy: String
    let expires: String?
    let revoked: String?
    /// Only in the answer to a create.
    let token: String?

    private enum CodingKeys: String, CodingKey { case name, role, created, createdBy, expires, revoked, token }
}
