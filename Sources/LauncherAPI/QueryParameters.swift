import Foundation
import Hummingbird
import LauncherCore

/// A query parameter, declared once: the OpenAPI document's schema for it and the parsing of
/// requests come from this, so the two cannot disagree on a limit.
struct QueryParameter: Sendable {
    enum Kind: Sendable {
        case text(max: Int)
        case uuid
        case integer(ClosedRange<Int>)
        case boolean
        case choice([String])
    }

    let name: String
    let kind: Kind
    let summary: String
    var examples: [String] = []

    var schema: JSONValue {
        var schema: JSONObject
        switch kind {
        case .text(let max): schema = ["type": "string", "maxLength": .int(Int64(max))]
        case .uuid: schema = ["type": "string", "format": "uuid"]
        case .integer(let range):
            schema = ["type": "integer", "minimum": .int(Int64(range.lowerBound)), "maximum": .int(Int64(range.upperBound))]
        case .boolean: schema = ["type": "boolean"]
        case .choice(let values): schema = ["type": "string", "enum": .array(values.map(JSONValue.string))]
        }
        if !examples.isEmpty { schema["examples"] = .array(examples.map(JSONValue.string)) }
        return .object(schema)
    }

    /// The longest text accepted (a UUID's 36 characters with room for braces and case).
    private var maxLength: Int {
        switch kind {
        case .text(let max): max
        case .uuid: 64
        case .integer: 20
        case .boolean: 10
        case .choice(let values): values.map(\.utf8.count).max() ?? 0
        }
    }

    /// The value as text, at most `maxLength` bytes and without NUL; a 400 naming it otherwise.
    /// (Its meaning, such as a UUID's form, is the service layer's to check.)
    func text(_ query: [String: String]) throws -> String? {
        guard let value = query[name] else { return nil }
        try Constraint.text(max: maxLength).checkText(value, at: FieldPath(name))
        if case .choice(let values) = kind, !values.contains(value) {
            throw LauncherError.invalid(name, "expected \(values.joined(separator: " or ")), got \"\(Constraint.excerpt(value, max: 40))\"")
        }
        return value
    }

    func integer(_ query: [String: String]) throws -> Int? {
        guard let text = try text(query) else { return nil }
        guard let value = Int(text) else { throw LauncherError.invalid(name, "expected a whole number, got \"\(text)\"") }
        if case .integer(let range) = kind, !range.contains(value) {
            throw LauncherError.invalid(name, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    func flag(_ query: [String: String]) throws -> Bool {
        guard let text = try text(query) else { return false }
        switch text.lowercased() {
        case "true", "1", "yes", "": return true
        case "false", "0", "no": return false
        default: throw LauncherError.invalid(name, "expected true or false, got \"\(text)\"")
        }
    }
}

/// Every query parameter the API reads.
enum QueryParameters {
    static let uuid = QueryParameter(name: "uuid", kind: .uuid, summary: "Only this workload.")
    static let project = QueryParameter(name: "project", kind: .text(max: Limits.shortText), summary: "Only this project's.")
    static let state = QueryParameter(
        name: "state", kind: .text(max: 16), summary: "Only workloads in this state (any capitalisation).",
        examples: WorkloadState.allCases.map(\.rawValue))
    static let label = QueryParameter(name: "label", kind: .text(max: Limits.shortText), summary: "Only workloads with this label.")
    static let creator = QueryParameter(name: "creator", kind: .text(max: Limits.shortText), summary: "Only this creator's.")
    static let sort = QueryParameter(
        name: "sort", kind: .text(max: 16), summary: "The listing's order: oldest (creation order, the default), newest, or project.",
        examples: WorkloadOrder.allCases.map(\.rawValue))
    static let limit = QueryParameter(
        name: "limit", kind: .integer(1...WorkloadService.maxPageSize),
        summary: "Items per page. Without limit and cursor the whole listing is returned (as WFL does), streamed.")
    static let cursor = QueryParameter(name: "cursor", kind: .text(max: 200), summary: "The X-Next-Cursor of the previous page.")
    static let status = QueryParameter(
        name: "status", kind: .text(max: 64), summary: "Only this status (any capitalisation; Cromwell's On Hold matches none).",
        examples: WorkflowStatus.allCases.map(\.rawValue) + ["On Hold"])
    static let submission = QueryParameter(name: "submission", kind: .uuid, summary: "Only this submission.")
    static let includeRetried = QueryParameter(name: "includeRetried", kind: .boolean, summary: "Also attempts that were retried.")

    static let page = [limit, cursor]

    static let stream = QueryParameter(
        name: "stream", kind: .choice(LogStream.allCases.map(\.rawValue)), summary: "stdout (the default) or stderr.")
    static let tail = QueryParameter(
        name: "tail", kind: .integer(1...LogReader.maxTailLines), summary: "The last N lines (default 100), within the last MiB.")
    static let from = QueryParameter(
        name: "from", kind: .integer(0...Int.max),
        summary: "The bytes from this offset on (at most a MiB): X-Log-End of the previous answer, to follow a log.")
}

/// `application/x-www-form-urlencoded`, as query strings and the dashboard's form bodies are
/// written: `+` is a space (`?project=My+Project`, `?status=On+Hold`), then percent escapes are
/// decoded. The first value of a repeated name wins.
enum FormEncoding {
    static func decode(_ text: Substring) -> [String: String] {
        var values: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func unescape(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = unescape(parts[0])
            if values[name] == nil { values[name] = parts.count > 1 ? unescape(parts[1]) : "" }
        }
        return values
    }

    /// The request's query string, decoded.
    static func query(_ request: Request) -> [String: String] { decode(Substring(request.uri.query ?? "")) }
}
