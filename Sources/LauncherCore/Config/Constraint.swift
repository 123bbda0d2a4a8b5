import Foundation

/// The launcher's limits, in one place. Every field's constraint starts from these, so no value
/// a request carries is unbounded: a number too large to convert, a string too long for an
/// index, or a list long enough to stall validation is refused at create with a 400.
public enum Limits {
    /// Seconds in any duration field (timeouts, delays, poll intervals): 30 days.
    public static let maxSeconds: Double = 30 * 86_400
    /// Counts (parallelism, batch sizes, array tasks): one million.
    public static let maxCount = 1_000_000
    /// Names, identifiers, URLs and other short strings, in UTF-8 bytes.
    public static let shortText = 1024
    /// Commands, scripts and messages, in UTF-8 bytes.
    public static let longText = 64 * 1024
    /// Entries of a list or map inside a stage configuration (environment variables, tags,
    /// mounts, snapshots): ten thousand.
    public static let maxEntries = 10_000
    /// Items in one request: ten million (the request's size limit usually comes first).
    public static let maxItems = 10_000_000
    /// A free-form object inside a configuration (engine parameters, a mapping), serialised.
    public static let freeFormBytes = 256 * 1024
    /// Default range of a number field that declares none.
    public static let numberRange: ClosedRange<Double> = -1e15...1e15
}

/// What a field's value must satisfy, declared once beside the field. The same declaration is
/// checked on every decode (requests and stored rows), listed by `wfl stages`, and written
/// into the OpenAPI schema.
public struct Constraint: Sendable {
    public var range: ClosedRange<Double>?
    public var exclusiveMinimum = false
    /// Strings, in UTF-8 bytes (default `Limits.shortText`).
    public var maxLength: Int?
    public var nonBlank = false
    public var pattern: Pattern?
    /// Strings: one of these.
    public var allowed: [String]?
    /// Arrays and maps.
    public var minCount: Int?
    public var maxCount: Int?
    public var unique = false
    /// Free-form JSON: its serialised size.
    public var maxBytes: Int?
    /// An absolute file-system path, confined to the roots the operator allows.
    public var isPath = false
    var nested: Nested?

    public init() {}

    /// Elements of an array, values of a map.
    public var elements: Constraint {
        get { nested?.elements ?? Constraint() }
        set { nested = Nested(elements: newValue, keys: nested?.keys ?? Constraint()) }
    }

    /// Keys of a map.
    public var keys: Constraint {
        get { nested?.keys ?? Constraint() }
        set { nested = Nested(elements: nested?.elements ?? Constraint(), keys: newValue) }
    }

    final class Nested: Sendable {
        let elements: Constraint
        let keys: Constraint
        init(elements: Constraint, keys: Constraint) {
            self.elements = elements
            self.keys = keys
        }
    }

    /// A regular expression the whole string must match, and what to tell a user who missed it.
    public struct Pattern: Sendable {
        public let regex: String
        public let help: String
        private let compiled: Compiled

        public init(_ regex: String, help: String) {
            self.regex = regex
            self.help = help
            compiled = Compiled(regex)
        }

        public func matches(_ text: String) -> Bool { compiled.matches(text) }

        private final class Compiled: @unchecked Sendable {
            // Regex is immutable once built; matching does not change it.
            let regex: Regex<AnyRegexOutput>?
            init(_ source: String) { regex = try? Regex(source) }
            func matches(_ text: String) -> Bool { regex.map { text.wholeMatch(of: $0) != nil } ?? false }
        }
    }
}

// MARK: - The vocabulary stages declare their fields with

extension Constraint {
    public static var none: Constraint { Constraint() }

    /// A number in `range` (inclusive).
    public static func range(_ range: ClosedRange<Double>) -> Constraint {
        var c = Constraint()
        c.range = range
        return c
    }

    /// A whole number in `range`.
    public static func range(_ range: ClosedRange<Int>) -> Constraint {
        .range(Double(range.lowerBound)...Double(range.upperBound))
    }

    /// A count: 1 to `max` (default one million).
    public static func count(max: Int = Limits.maxCount) -> Constraint { .range(1...max) }

    /// A duration in seconds, greater than `min` (or at least 0 when `zero` is allowed), at
    /// most `Limits.maxSeconds`.
    public static func seconds(allowZero: Bool = false, max: Double = Limits.maxSeconds) -> Constraint {
        var c = Constraint.range(0...max)
        c.exclusiveMinimum = !allowZero
        return c
    }

    /// A number greater than `minimum` and at most `maximum`.
    public static func above(_ minimum: Double, max: Double = Limits.numberRange.upperBound) -> Constraint {
        var c = Constraint.range(minimum...max)
        c.exclusiveMinimum = true
        return c
    }

    /// A string of at most `max` bytes; `nonBlank` refuses whitespace-only.
    public static func text(max: Int = Limits.shortText, nonBlank: Bool = false) -> Constraint {
        var c = Constraint()
        c.maxLength = max
        c.nonBlank = nonBlank
        return c
    }

    /// A shell command or script: long, not blank.
    public static var command: Constraint { .text(max: Limits.longText, nonBlank: true) }

    /// A string matching `regex` entirely (short text).
    public static func matching(_ regex: String, _ help: String, max: Int = Limits.shortText) -> Constraint {
        var c = Constraint.text(max: max, nonBlank: true)
        c.pattern = Pattern(regex, help: help)
        return c
    }

    /// One of `values`.
    public static func oneOf(_ values: [String]) -> Constraint {
        var c = Constraint.text()
        c.allowed = values
        return c
    }

    /// An absolute path, normalised, inside the roots the operator allows.
    public static var path: Constraint {
        var c = Constraint.text(max: 4096, nonBlank: true)
        c.isPath = true
        return c
    }

    /// A list of at most `max` elements, each meeting `element`.
    public static func list(_ element: Constraint = .none, min: Int? = nil, max: Int = Limits.maxEntries, unique: Bool = false)
        -> Constraint
    {
        var c = Constraint()
        c.minCount = min
        c.maxCount = max
        c.unique = unique
        c.elements = element
        return c
    }

    /// A map of at most `max` entries with keys meeting `key` and values meeting `value`.
    public static func map(key: Constraint = .text(nonBlank: true), value: Constraint = .none, max: Int = Limits.maxEntries) -> Constraint {
        var c = Constraint()
        c.maxCount = max
        c.keys = key
        c.elements = value
        return c
    }

    /// Environment variables: names as the shell takes them, values up to 64 KiB.
    public static var environment: Constraint {
        .map(
            key: .matching("[A-Za-z_][A-Za-z0-9_]*", "is not a valid environment variable name", max: 256),
            value: .text(max: Limits.longText), max: 1000)
    }

    /// A stage configuration inside a workload request: checked by the stage's own declaration.
    public static var stage: Constraint { freeForm(maxBytes: .max) }

    /// Free-form JSON of at most `maxBytes` serialised.
    public static func freeForm(maxBytes: Int = Limits.freeFormBytes) -> Constraint {
        var c = Constraint()
        c.maxBytes = maxBytes
        return c
    }
}

// MARK: - Checks shared by the value types

extension Constraint {
    /// Text of a number for messages: whole numbers without a fraction.
    public static func numberText(_ value: Double) -> String {
        if value.rounded() == value && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    public func checkNumber(_ value: Double, _ json: JSONValue, at path: FieldPath) throws {
        let range = self.range ?? Limits.numberRange
        if exclusiveMinimum ? value <= range.lowerBound : value < range.lowerBound {
            throw path.invalid(
                "must be \(exclusiveMinimum ? "greater than" : "at least") \(Self.numberText(range.lowerBound)), got \(json)")
        }
        if value > range.upperBound {
            throw path.invalid("must be at most \(Self.numberText(range.upperBound)), got \(json)")
        }
    }

    public func checkText(_ text: String, at path: FieldPath) throws {
        let limit = maxLength ?? Limits.shortText
        if text.utf8.count > limit {
            throw path.invalid("must be at most \(limit) bytes long, got \(text.utf8.count)", ["maxLength": .int(Int64(limit))])
        }
        if text.utf8.contains(0) {
            throw path.invalid("must not contain a NUL character (\\u0000)")
        }
        if nonBlank && text.allSatisfy(\.isWhitespace) {
            throw path.invalid("must not be blank")
        }
        if let allowed, !allowed.contains(text) {
            throw path.invalid(
                "\"\(text)\" is not one of \(allowed.joined(separator: ", "))", ["allowed": .array(allowed.map(JSONValue.string))])
        }
        if let pattern, !pattern.matches(text) {
            throw path.invalid("\"\(Self.excerpt(text))\" \(pattern.help)")
        }
    }

    public func checkCount(_ count: Int, at path: FieldPath) throws {
        if let minCount, count < minCount {
            throw path.invalid(minCount == 1 ? "must not be empty" : "must have at least \(minCount) entries, got \(count)")
        }
        let limit = maxCount ?? Limits.maxEntries
        if count > limit { throw path.invalid("must have at most \(limit) entries, got \(count)", ["maxItems": .int(Int64(limit))]) }
    }

    /// A value quoted in a message, shortened so a huge value cannot flood a response.
    public static func excerpt(_ text: String, max: Int = 120) -> String {
        text.count > max ? String(text.prefix(max)) + "…" : text
    }
}
