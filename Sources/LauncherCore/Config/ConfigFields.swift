import Foundation

/// One field of a configuration, declared once: its JSON name, the property it fills, its
/// constraint, whether it is required, and what `wfl stages` says about it. Its default is the
/// property's initial value. From this declaration come decoding (with errors naming the
/// field), unknown-field refusal, the stored form, the catalog and the OpenAPI schema.
public struct Field<Root>: Sendable {
    public typealias Presence = FieldPresence

    public let name: String
    public let summary: String
    public let required: Bool
    /// What to say when a required field is missing, after "required".
    public let missingHelp: String?
    public let presence: Presence
    public let constraint: Constraint
    let typeName: String
    let typeSchema: JSONObject
    let read: @Sendable (inout Root, JSONValue, FieldPath, ConfigContext) throws -> Void
    /// The stored form of the value; nil when absent.
    let write: @Sendable (Root) -> JSONValue?

    public init<Value: ConfigValue>(
        _ name: String, _ keyPath: any WritableKeyPath<Root, Value> & Sendable, _ constraint: Constraint = .none,
        required: Bool = false, presence: Presence = .everywhere, ifMissing missingHelp: String? = nil, _ summary: String
    ) {
        self.name = name
        self.missingHelp = missingHelp
        self.summary = summary
        self.required = required
        self.presence = presence
        self.constraint = constraint
        typeName = Value.typeName
        typeSchema = Value.typeSchema
        read = { root, json, path, context in
            root[keyPath: keyPath] = try Value.read(json, constraint, at: path, context)
        }
        write = { root in
            let value = root[keyPath: keyPath]
            // Not `? nil :` — JSONValue is ExpressibleByNilLiteral, and that nil would be `.null`.
            if value.isAbsent { return Optional<JSONValue>.none }
            return value.configJSON
        }
    }

    /// A field whose type carries all its checks (a memory size, a `namespace/name`).
    public init<Value: ConfigValue>(
        _ name: String, _ keyPath: any WritableKeyPath<Root, Value> & Sendable,
        required: Bool = false, presence: Presence = .everywhere, ifMissing missingHelp: String? = nil, _ summary: String
    ) {
        self.init(name, keyPath, .none, required: required, presence: presence, ifMissing: missingHelp, summary)
    }

    fileprivate init(
        name: String, summary: String, required: Bool, missingHelp: String?, presence: Presence, constraint: Constraint, typeName: String,
        typeSchema: JSONObject, read: @escaping @Sendable (inout Root, JSONValue, FieldPath, ConfigContext) throws -> Void,
        write: @escaping @Sendable (Root) -> JSONValue?
    ) {
        self.name = name
        self.summary = summary
        self.required = required
        self.missingHelp = missingHelp
        self.presence = presence
        self.constraint = constraint
        self.typeName = typeName
        self.typeSchema = typeSchema
        self.read = read
        self.write = write
    }

    func accepted(from origin: ConfigOrigin) -> Bool {
        switch presence {
        case .everywhere: true
        case .requestOnly: origin == .request
        case .storedOnly: origin == .stored
        }
    }
}

/// Where a field appears: in requests and stored rows alike, only in requests (Items'
/// `items`, stored as rows of their own), or only in stored rows (derived at create).
public enum FieldPresence: Sendable {
    case everywhere, requestOnly, storedOnly
}

extension Field {
    /// This field as a field of a struct that holds `Root` at `keyPath` (SLURM's resources
    /// sit at the top level of its configuration and are also its retry overrides).
    public func embedded<Outer>(in keyPath: any WritableKeyPath<Outer, Root> & Sendable) -> Field<Outer> {
        let read = self.read, write = self.write
        return Field<Outer>(
            name: name, summary: summary, required: required, missingHelp: missingHelp, presence: presence, constraint: constraint,
            typeName: typeName,
            typeSchema: typeSchema, read: { outer, json, path, context in try read(&outer[keyPath: keyPath], json, path, context) },
            write: { outer in write(outer[keyPath: keyPath]) })
    }
}

extension Array {
    public func embedded<Inner, Outer>(in keyPath: any WritableKeyPath<Outer, Inner> & Sendable) -> [Field<Outer>]
    where Element == Field<Inner> {
        map { $0.embedded(in: keyPath) }
    }
}

/// A struct read from a JSON object through its declared fields: stage configurations, retry
/// overrides, nested blocks.
public protocol ConfigStruct: Sendable, Codable {
    /// Every field at its default (required fields hold placeholders the decoder replaces).
    init()
    static var fields: [Field<Self>] { get }
    /// Rules across fields and derived values, once every field passed its own checks.
    mutating func finish(at path: FieldPath, context: ConfigContext) throws
}

extension ConfigStruct {
    public mutating func finish(at path: FieldPath, context: ConfigContext) throws {}

    /// Reads the object's fields; unknown ones (other than `reserved`) are refused, naming the
    /// known ones. `what` describes the struct in that message ("the Mock executor").
    public static func decode(
        _ object: JSONObject, at path: FieldPath, context: ConfigContext,
        what: String, reserved: Set<String> = []
    ) throws -> Self {
        let fields = Self.fields.filter { $0.accepted(from: context.origin) }
        let known = Set(fields.map(\.name)).union(reserved)
        // Stored rows may carry fields a newer or older launcher wrote: they are ignored.
        if context.origin == .request, let unknown = object.keys.filter({ !known.contains($0) }).min() {
            let names = fields.map(\.name)
            throw path.key(unknown).invalid(
                "unknown field for \(what); known fields: \(names.isEmpty ? "none" : names.joined(separator: ", "))",
                ["known": .array(names.map(JSONValue.string))])
        }
        var value = Self()
        for field in fields {
            guard let json = object[field.name], !json.isNull else {
                if field.required { throw path.key(field.name).invalid(field.missingHelp.map { "required: \($0)" } ?? "required") }
                continue
            }
            try field.read(&value, json, path.key(field.name), context)
        }
        try value.finish(at: path, context: context)
        return value
    }

    /// Reads a value that must be an object.
    public static func decode(_ json: JSONValue, at path: FieldPath, context: ConfigContext, what: String) throws -> Self {
        guard case .object(let object) = json else { throw path.invalid("expected an object, got \(json.typeName)") }
        return try decode(object, at: path, context: context, what: what)
    }

    /// The stored form: every field that is not request-only and has a value.
    public var storedObject: JSONObject {
        var object: JSONObject = [:]
        for field in Self.fields where field.presence != .requestOnly {
            if let value = field.write(self) { object[field.name] = value }
        }
        return object
    }

    /// What `wfl stages` and `GET /api/v1/stages` list for each field a request may carry.
    public static var catalogFields: [JSONValue] {
        let defaults = Self()
        return fields.filter { $0.presence != .storedOnly }.map { field in
            var entry: JSONObject = [
                "name": .string(field.name), "type": .string(field.typeName), "required": .bool(field.required),
                "description": .string(field.summary),
            ]
            if !field.required, let value = field.write(defaults) { entry["default"] = value }
            for (key, value) in field.constraint.schemaKeywords where key != "pattern" { entry[key] = value }
            return .object(entry)
        }
    }

    /// The JSON Schema of the request form (for the OpenAPI document).
    public static func jsonSchema(extra: JSONObject = [:], required extraRequired: [String] = []) -> JSONValue {
        var properties = extra
        let defaults = Self()
        for field in fields where field.presence != .storedOnly {
            var schema = field.constraint.schema(for: field.typeSchema)
            schema["description"] = .string(field.summary)
            if !field.required, let value = field.write(defaults) { schema["default"] = value }
            properties[field.name] = .object(schema)
        }
        let required = extraRequired + fields.filter { $0.required && $0.presence != .storedOnly }.map(\.name)
        var schema: JSONObject = ["type": "object", "properties": .object(properties), "additionalProperties": false]
        if !required.isEmpty { schema["required"] = .array(required.map(JSONValue.string)) }
        return .object(schema)
    }

    // Codable through the declared fields, so `JSONValueDecoder` and `JSONEncoder` see the same
    // checks and the same stored form as the launcher's own reads and writes.
    public init(from decoder: any Decoder) throws {
        let json = try JSONValue(from: decoder)
        let path = FieldPath(decoder.codingPath.map(\.stringValue).joined(separator: "."))
        self = try Self.decode(json, at: path, context: .stored, what: String(describing: Self.self))
    }

    public func encode(to encoder: any Encoder) throws {
        try JSONValue.object(storedObject).encode(to: encoder)
    }
}

extension Constraint {
    /// `type` with this constraint's keywords, element and key constraints included.
    public func schema(for type: JSONObject) -> JSONObject {
        var schema = type.merging(schemaKeywords) { _, constraint in constraint }
        if let nested, case .object(let items)? = type["items"] {
            schema["items"] = .object(nested.elements.schema(for: items))
        }
        if let nested, case .object(let values)? = type["additionalProperties"] {
            schema["additionalProperties"] = .object(nested.elements.schema(for: values))
            if let pattern = nested.keys.pattern { schema["propertyNames"] = ["pattern": .string("^(?:\(pattern.regex))$")] }
        }
        return schema
    }

    /// The constraint as JSON Schema keywords.
    var schemaKeywords: JSONObject {
        var keywords: JSONObject = [:]
        if let range {
            if exclusiveMinimum {
                keywords["exclusiveMinimum"] = .double(range.lowerBound)
            } else {
                keywords["minimum"] = .double(range.lowerBound)
            }
            keywords["maximum"] = .double(range.upperBound)
        }
        if let maxLength { keywords["maxLength"] = .int(Int64(maxLength)) }
        if nonBlank { keywords["minLength"] = 1 }
        if let pattern { keywords["pattern"] = .string("^(?:\(pattern.regex))$") }
        if let allowed { keywords["enum"] = .array(allowed.map(JSONValue.string)) }
        if let minCount { keywords["minItems"] = .int(Int64(minCount)) }
        if let maxCount { keywords["maxItems"] = .int(Int64(maxCount)) }
        if unique { keywords["uniqueItems"] = true }
        return keywords
    }
}

/// A stage's configuration: a `ConfigStruct` with the stage's type name and summary. Stored
/// with the workload as its `storedObject` plus `"name"`.
public protocol StageConfig: ConfigStruct {
    static var stageName: String { get }
    static var summary: String { get }
}

extension StageConfig {
    /// The stored form, with the stage's `name`.
    public var stored: JSONObject {
        var object = storedObject
        object["name"] = .string(Self.stageName)
        return object
    }
}

/// A config with no fields (the `None` sink, test stages).
public struct NoConfig: ConfigStruct, Equatable {
    public init() {}
    public static var fields: [Field<NoConfig>] { [] }
}
