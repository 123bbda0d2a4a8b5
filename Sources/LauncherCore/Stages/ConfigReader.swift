import Foundation

/// Where a stage configuration comes from: a user's request (checked strictly), or the copy
/// stored with a workload (already checked, and possibly in the stage's stored form).
public enum ConfigOrigin: Sendable {
    case request
    case stored
}

/// Reads typed fields from one JSON object; every error names the field's full path
/// (`executor.delaySeconds`) so a user can find it in the request.
public final class ConfigReader {
    public let object: JSONObject
    public let basePath: String
    public let origin: ConfigOrigin

    public init(_ object: JSONObject, path: String, origin: ConfigOrigin = .request) {
        self.object = object
        self.basePath = path
        self.origin = origin
    }

    /// The fields present, apart from the stage's `name`.
    public var keys: [String] { object.keys.filter { $0 != "name" }.sorted() }

    public func path(_ key: String) -> String { basePath.isEmpty ? key : "\(basePath).\(key)" }

    public func has(_ key: String) -> Bool { object[key].map { !$0.isNull } ?? false }

    private func present(_ key: String) -> JSONValue? {
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }

    private func missing(_ key: String) -> LauncherError {
        .invalid(path(key), "required")
    }

    private func wrongType(_ key: String, _ expected: String, _ value: JSONValue) -> LauncherError {
        .invalid(path(key), "expected \(expected), got \(value.typeName)")
    }

    public func string(_ key: String) throws -> String? {
        guard let value = present(key) else { return nil }
        guard let s = value.stringValue else { throw wrongType(key, "a string", value) }
        return s
    }

    public func requiredString(_ key: String, nonEmpty: Bool = true) throws -> String {
        guard let s = try string(key) else { throw missing(key) }
        if nonEmpty && s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw LauncherError.invalid(path(key), "must not be blank")
        }
        return s
    }

    public func int(_ key: String, min: Int? = nil, max: Int? = nil) throws -> Int? {
        guard let value = present(key) else { return nil }
        guard let i = value.intValue else { throw wrongType(key, "a whole number", value) }
        if let min, i < min { throw LauncherError.invalid(path(key), "must be at least \(min), got \(i)") }
        if let max, i > max { throw LauncherError.invalid(path(key), "must be at most \(max), got \(i)") }
        return Int(i)
    }

    public func number(_ key: String, min: Double? = nil, max: Double? = nil, exclusiveMin: Bool = false) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard let d = value.doubleValue else { throw wrongType(key, "a number", value) }
        if let min, exclusiveMin ? d <= min : d < min {
            throw LauncherError.invalid(path(key), "must be \(exclusiveMin ? "greater than" : "at least") \(JSONValue.double(min)), got \(value)")
        }
        if let max, d > max { throw LauncherError.invalid(path(key), "must be at most \(JSONValue.double(max)), got \(value)") }
        return d
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let value = present(key) else { return nil }
        guard let b = value.boolValue else { throw wrongType(key, "true or false", value) }
        return b
    }

    public func object(_ key: String) throws -> JSONObject? {
        guard let value = present(key) else { return nil }
        guard let o = value.objectValue else { throw wrongType(key, "an object", value) }
        return o
    }

    public func array(_ key: String) throws -> [JSONValue]? {
        guard let value = present(key) else { return nil }
        guard let a = value.arrayValue else { throw wrongType(key, "an array", value) }
        return a
    }

    /// An object whose values are all strings (environment variables, tags).
    public func stringMap(_ key: String) throws -> [String: String]? {
        guard let o = try object(key) else { return nil }
        var result: [String: String] = [:]
        for (k, v) in o {
            guard let s = v.stringValue else {
                throw LauncherError.invalid("\(path(key)).\(k)", "expected a string, got \(v.typeName)")
            }
            result[k] = s
        }
        return result
    }

    /// Rejects fields the stage does not declare, listing the ones it does.
    public func rejectUnknown(allowed: [String], stageDescription: String) throws {
        let known = Set(allowed + ["name"])
        if let unknown = keys.first(where: { !known.contains($0) }) {
            throw LauncherError.invalid(
                path(unknown), "unknown field for \(stageDescription); known fields: \(allowed.joined(separator: ", "))",
                ["known": .array(allowed.map(JSONValue.string))])
        }
    }
}
