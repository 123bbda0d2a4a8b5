import Foundation

/// A workload request (`POST /api/v1/create`, `wfl create`), as declared fields. The stage
/// configurations are read afterwards by the registry, each through its own declaration.
struct WorkloadRequest: ConfigStruct {
    var project = ""
    var labels: [WorkloadLabel] = []
    var watchers: [Watcher] = []
    var source: JSONValue = .null
    var executor: JSONValue = .null
    var sink: JSONValue = .null
    /// WFL clients send these; see `finish`.
    var creator: String?
    var cromwell: JSONValue = .null

    static let fields: [Field<WorkloadRequest>] = [
        Field("project", \.project, .text(max: 1024, nonBlank: true), required: true, "The project the workload belongs to."),
        Field("labels", \.labels, .list(max: 100), "\"name:value\" labels; project:<project> is added."),
        Field(
            "watchers", \.watchers, .list(max: 100),
            "Who is told when the workload starts, finishes, has failed workflows or keeps failing to update: [\"slack\", channel], [\"email\", address], [\"webhook\", https URL]."
        ),
        Field("source", \.source, .stage, "The source stage: {\"name\": …, …}."),
        Field("executor", \.executor, .stage, "The executor stage: {\"name\": …, …}."),
        Field("sink", \.sink, .stage, "The sink stage: {\"name\": …, …}."),
        Field(
            "creator", \.creator, .text(max: 320), presence: .requestOnly,
            "Accepted from WFL clients and ignored: the creator is the caller's authenticated identity."),
        Field("cromwell", \.cromwell, .freeForm(), presence: .requestOnly, "WFL's legacy executor field: refused; use executor."),
    ]

    mutating func finish(at path: FieldPath, context: ConfigContext) throws {
        if !cromwell.isNull {
            throw path.key("cromwell").invalid(
                "WFL's \"cromwell\" field is not supported: give the backend as \"executor\": {\"name\": \"WES\" or \"Terra\", …} (see GET /api/v1/stages)"
            )
        }
        project = project.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// As WFL: `project:<project>` is added, duplicates dropped, the list sorted.
    var normalisedLabels: [String] {
        Array(Set(labels.map(\.text) + ["project:\(project)"])).sorted()
    }
}

/// `"name:value"`: the name starts with a letter, then letters, digits, `_` or `-`; the value
/// is not blank; exactly one `:`.
struct WorkloadLabel: ConfigValue {
    let text: String

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> WorkloadLabel {
        guard case .string(let label) = json else { throw path.invalid("expected a \"name:value\" string, got \(json.typeName)") }
        try Constraint.text(max: 256).checkText(label, at: path)
        if let problem = problem(label) { throw path.invalid("\"\(label)\" \(problem)") }
        return WorkloadLabel(text: label)
    }

    static func problem(_ label: String) -> String? {
        let parts = label.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "must have exactly one ':' between a name and a value" }
        let name = parts[0], value = parts[1]
        guard let first = name.unicodeScalars.first, first.isASCII, CharacterSet.letters.contains(first) else {
            return "must have a name that starts with a letter"
        }
        guard name.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") }) else {
            return "has a name with characters other than letters, digits, '_' and '-'"
        }
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty else { return "must have a non-blank value" }
        return nil
    }

    var configJSON: JSONValue { .string(text) }
    static var typeSchema: JSONObject { ["type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]*:[^:]*\\S[^:]*$"] }
    static var typeName: String { "string" }
}

/// `["slack", "C…channel", "#name"?]`, `["email", "someone@example.org"]` (as in WFL) or
/// `["webhook", "https://…"]`. At create, a watcher this server cannot send to (its operator
/// configured no Slack token, SMTP relay or webhook key) is refused, as is a webhook URL the
/// outbound policy does not allow; stored watchers load as they were written.
struct Watcher: ConfigValue {
    let parts: [String]

    static let shapes = "[\"slack\", channelId, \"#name\"?], [\"email\", address] or [\"webhook\", https URL]"

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Watcher {
        guard let tuple = json.arrayValue, let kindName = tuple.first?.stringValue, tuple.count <= 3,
            tuple.allSatisfy({ $0.stringValue != nil })
        else {
            throw path.invalid("expected \(shapes)")
        }
        let values = tuple.compactMap(\.stringValue)
        for (index, value) in values.enumerated() { try Constraint.text(max: 2048).checkText(value, at: path.index(index)) }
        guard let kind = WatcherAddress.Kind(rawValue: kindName) else {
            throw path.invalid("unknown watcher type \"\(Constraint.excerpt(kindName))\"; known: slack, email, webhook")
        }
        switch kind {
        case .slack:
            guard values.count == 2 || values.count == 3, values[1].hasPrefix("C") || values[1].hasPrefix("G"),
                (2...32).contains(values[1].count), values[1].allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) })
            else {
                throw path.invalid("a slack watcher is [\"slack\", channelId starting with C, \"#name\"?]")
            }
        case .email:
            guard values.count == 2, WatcherAddress.isMailAddress(values[1]) else {
                throw path.invalid("an email watcher is [\"email\", a valid address]")
            }
        case .webhook:
            guard values.count == 2 else { throw path.invalid("a webhook watcher is [\"webhook\", an https URL]") }
            if let problem = WatcherAddress.webhookProblem(values[1]) { throw path.index(1).invalid(problem) }
        }
        if context.origin == .request {
            let notifications = NotificationSettings(context.settings)
            if let problem = notifications.unavailable(kind) { throw path.invalid(problem) }
            if kind == .webhook, let problem = OutboundPolicy(context.settings).problem(url: values[1]) {
                throw path.index(1).invalid(problem)
            }
        }
        return Watcher(parts: values)
    }

    var configJSON: JSONValue { .array(parts.map(JSONValue.string)) }
    static var typeSchema: JSONObject { ["type": "array", "items": ["type": "string"], "minItems": 2, "maxItems": 3] }
    static var typeName: String { "array of strings" }
}

/// A retry request (`POST /api/v1/workload/{uuid}/retry`, `wfl retry`).
struct RetryRequest: ConfigStruct {
    var status: String?
    var submission: UUID?
    var uuids: [UUID]?
    var overrides: JSONObject?

    static let fields: [Field<RetryRequest>] = [
        Field("status", \.status, .text(max: 64), "Retry workflows with this final status: Succeeded, Failed or Aborted."),
        Field("submission", \.submission, "Retry workflows of this submission (a UUID)."),
        Field("uuids", \.uuids, .list(min: 1, max: 100_000), "Retry these workflows."),
        Field("overrides", \.overrides, .freeForm(), "Executor settings for the new attempts (e.g. more memory)."),
    ]
}

/// A redeliver request (`POST /api/v1/workload/{uuid}/redeliver`, `wfl redeliver`).
struct RedeliverRequest: ConfigStruct {
    var uuids: [UUID]?

    static let fields: [Field<RedeliverRequest>] = [
        Field("uuids", \.uuids, .list(min: 1, max: 100_000), "Redeliver these workflows only (default: every set-aside delivery).")
    ]
}

extension UUID: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> UUID {
        guard case .string(let text) = json else { throw path.invalid("expected a UUID string, got \(json.typeName)") }
        return try RequestValidation.uuid(text, field: path.text)
    }
    public var configJSON: JSONValue { .string(uuidString.lowercased()) }
    public static var typeSchema: JSONObject { ["type": "string", "format": "uuid"] }
    public static var typeName: String { "uuid" }
}

enum RequestValidation {
    static func uuid(_ text: String, field: String) throws -> UUID {
        guard text.utf8.count <= 64, let uuid = UUID(uuidString: text.trimmingCharacters(in: .whitespaces)) else {
            throw LauncherError.invalid(field, "\"\(Constraint.excerpt(text, max: 64))\" is not a UUID")
        }
        return uuid
    }
}

/// Opaque pagination cursors: the id of the last row on the previous page, tagged by listing.
enum Cursor {
    static func encode(_ id: Int64, kind: String) -> String {
        Base64URL.encode("\(kind):\(id)")
    }

    static func decode(_ cursor: String?, kind: String) throws -> Int64? {
        guard let cursor, !cursor.isEmpty else { return nil }
        guard cursor.utf8.count <= 200, let data = Base64URL.decode(cursor), let text = String(data: data, encoding: .utf8),
            text.hasPrefix("\(kind):"), let id = Int64(text.dropFirst(kind.count + 1)), id >= 0
        else {
            throw LauncherError.invalid("cursor", "is not a cursor this listing returned")
        }
        return id
    }
}
