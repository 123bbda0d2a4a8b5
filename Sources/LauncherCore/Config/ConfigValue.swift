import Foundation

/// Where a configuration comes from: a user's request, or the copy stored with a workload.
/// Both are checked against the same declarations; only request-only fields and checks of the
/// machine (does the file exist now) differ.
public enum ConfigOrigin: Sendable {
    case request
    case stored
}

/// A field's place in the request, as errors name it: `executor.memory`, `source.items[3]`.
public struct FieldPath: Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let text: String

    public init(_ text: String) { self.text = text }
    public init(stringLiteral value: String) { self.text = value }

    public func key(_ name: String) -> FieldPath { FieldPath(text.isEmpty ? name : "\(text).\(name)") }
    public func index(_ index: Int) -> FieldPath { FieldPath("\(text)[\(index)]") }

    /// Bad input at this path: a 400 naming the field.
    public func invalid(_ message: String, _ extra: JSONObject = [:]) -> LauncherError {
        LauncherError.invalid(text, message, extra)
    }

    public var description: String { text }
}

/// What decoding a configuration may need beyond the JSON: where it comes from, and how file
/// paths are resolved and confined.
public struct ConfigContext: Sendable {
    public var origin: ConfigOrigin
    public var files: FilePolicy
    /// The operator's settings (secrets, outbound hosts), for checks at create.
    public var settings: Settings

    public init(origin: ConfigOrigin, files: FilePolicy = FilePolicy(), settings: Settings = .process) {
        self.origin = origin
        self.files = files
        self.settings = settings
    }

    public static let stored = ConfigContext(origin: .stored)
    public static let request = ConfigContext(origin: .request)
}

/// A type a configuration field can hold. Conformers read themselves from JSON, checking the
/// field's constraint, and write themselves back in the stored form.
public protocol ConfigValue: Sendable, Equatable {
    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Self
    var configJSON: JSONValue { get }
    /// The JSON Schema of the type, before the constraint's keywords are added.
    static var typeSchema: JSONObject { get }
    /// How `wfl stages` names the type ("string", "array of strings").
    static var typeName: String { get }
    /// Absent values (nil) are left out of the stored form.
    var isAbsent: Bool { get }
}

extension ConfigValue {
    public var isAbsent: Bool { false }

    static func wrongType(_ expected: String, _ json: JSONValue, at path: FieldPath) -> LauncherError {
        path.invalid("expected \(expected), got \(json.typeName)")
    }
}

extension String: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> String {
        guard case .string(let text) = json else { throw wrongType("a string", json, at: path) }
        try constraint.checkText(text, at: path)
        if constraint.isPath { return try context.files.resolve(text, at: path) }
        return text
    }
    public var configJSON: JSONValue { .string(self) }
    public static var typeSchema: JSONObject { ["type": "string"] }
    public static var typeName: String { "string" }
}

extension Int: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Int {
        guard json.isNumber else { throw wrongType("a whole number", json, at: path) }
        guard let value = json.intValue else { throw path.invalid("expected a whole number, got \(json)") }
        try constraint.checkNumber(Double(value), json, at: path)
        return Int(value)  // within the checked range, so it fits
    }
    public var configJSON: JSONValue { .int(Int64(self)) }
    public static var typeSchema: JSONObject { ["type": "integer"] }
    public static var typeName: String { "integer" }
}

extension Double: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Double {
        guard let value = json.doubleValue else { throw wrongType("a number", json, at: path) }
        try constraint.checkNumber(value, json, at: path)
        return value
    }
    public var configJSON: JSONValue { .double(self) }
    public static var typeSchema: JSONObject { ["type": "number"] }
    public static var typeName: String { "number" }
}

extension Bool: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Bool {
        guard case .bool(let value) = json else { throw wrongType("true or false", json, at: path) }
        return value
    }
    public var configJSON: JSONValue { .bool(self) }
    public static var typeSchema: JSONObject { ["type": "boolean"] }
    public static var typeName: String { "boolean" }
}

extension Optional: ConfigValue where Wrapped: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Self {
        json.isNull ? nil : try Wrapped.read(json, constraint, at: path, context)
    }
    public var configJSON: JSONValue { self?.configJSON ?? .null }
    public static var typeSchema: JSONObject { Wrapped.typeSchema }
    public static var typeName: String { Wrapped.typeName }
    public var isAbsent: Bool { self == nil }
}

extension Array: ConfigValue where Element: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> [Element] {
        guard case .array(let values) = json else { throw wrongType("an array", json, at: path) }
        try constraint.checkCount(values.count, at: path)
        let element = constraint.elements
        var result: [Element] = []
        result.reserveCapacity(values.count)
        for (index, value) in values.enumerated() {
            result.append(try Element.read(value, element, at: path.index(index), context))
        }
        if constraint.unique {
            // One pass with a set: O(n), whatever the list's length.
            var seen: [JSONValue: Int] = [:]
            for (index, value) in result.enumerated() {
                if let first = seen.updateValue(index, forKey: value.configJSON) {
                    throw path.index(index).invalid("\(value.configJSON) is listed twice (also at index \(first))")
                }
            }
        }
        return result
    }
    public var configJSON: JSONValue { .array(map(\.configJSON)) }
    public static var typeSchema: JSONObject { ["type": "array", "items": .object(Element.typeSchema)] }
    public static var typeName: String { "array of \(Element.typeName)s" }
}

extension Dictionary: ConfigValue where Key == String, Value: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> [String:
        Value]
    {
        guard case .object(let object) = json else { throw wrongType("an object", json, at: path) }
        try constraint.checkCount(object.count, at: path)
        var result: [String: Value] = [:]
        result.reserveCapacity(object.count)
        for key in object.keys.sorted() {
            let entry = path.key(key)
            let keys = constraint.keys
            do {
                try keys.checkText(key, at: entry)
            } catch let error as LauncherError where keys.pattern != nil && error.message.contains(keys.pattern!.help) {
                throw entry.invalid(keys.pattern!.help)  // "env.1X: is not a valid environment variable name"
            }
            result[key] = try Value.read(object[key]!, constraint.elements, at: entry, context)
        }
        return result
    }
    public var configJSON: JSONValue { .object(mapValues(\.configJSON)) }
    public static var typeSchema: JSONObject { ["type": "object", "additionalProperties": .object(Value.typeSchema)] }
    public static var typeName: String { "object" }
}

/// Free-form JSON (engine parameters, a mapping, a rule): any value, bounded in size.
extension JSONValue: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> JSONValue {
        try checkFreeForm(json, constraint, at: path)
        return json
    }
    public var configJSON: JSONValue { self }
    public static var typeSchema: JSONObject { [:] }
    public static var typeName: String { "any" }
    public var isAbsent: Bool { isNull }

    static func checkFreeForm(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath) throws {
        let limit = constraint.maxBytes ?? Limits.freeFormBytes
        if limit == .max { return }  // a stage configuration: its own declaration checks it
        let size = json.description.utf8.count
        if size > limit { throw path.invalid("must be at most \(limit) bytes as JSON, got \(size)") }
        if json.containsNUL { throw path.invalid("must not contain a NUL character (\\u0000)") }
    }
}

/// An enumeration of allowed strings (pull policies, runtimes).
public protocol ConfigEnum: ConfigValue, RawRepresentable<String>, CaseIterable {}

extension ConfigEnum {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Self {
        guard case .string(let text) = json else { throw wrongType("a string", json, at: path) }
        guard let value = Self(rawValue: text) else {
            let names = allCases.map(\.rawValue)
            throw path.invalid(
                "\"\(Constraint.excerpt(text))\" is not one of \(names.joined(separator: ", "))",
                ["allowed": .array(names.map(JSONValue.string))])
        }
        return value
    }
    public var configJSON: JSONValue { .string(rawValue) }
    public static var typeSchema: JSONObject { ["type": "string", "enum": .array(allCases.map { .string($0.rawValue) })] }
    public static var typeName: String { "string" }
}

extension JSONValue {
    /// Whether any string or key in the value holds a NUL character (PostgreSQL cannot store
    /// one in text or jsonb).
    public var containsNUL: Bool {
        switch self {
        case .string(let s): return s.utf8.contains(0)
        case .array(let a): return a.contains(where: \.containsNUL)
        case .object(let o): return o.contains { $0.key.utf8.contains(0) || $0.value.containsNUL }
        default: return false
        }
    }
}
