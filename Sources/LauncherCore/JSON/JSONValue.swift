import Foundation

/// A JSON document: request bodies, stage configurations, workflow inputs and outputs.
///
/// Kept as a closed enum (not `Any`) so values are `Sendable`, comparable, and written back
/// exactly as read. Numbers keep the text they were written with (`3.0` stays `3.0`, `1e42`
/// stays `1e42`, an integer beyond 64 bits keeps every digit), so a workflow's inputs reach
/// the backend as the user wrote them; object keys are written sorted.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// An integer written without fraction or exponent that fits in 64 bits.
    case int(Int64)
    /// Every other number, as written.
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// A number computed in code (not parsed): whole values as integers, others in Swift's
    /// shortest round-trip form. Non-finite values have no JSON form and become `null`.
    public static func double(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        if value.rounded() == value && abs(value) < 9.0e15 { return .int(Int64(value)) }
        return .number(JSONNumber(value))
    }
}

/// A JSON number kept as its text. The text is always valid JSON number syntax and finite.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    public let text: String

    /// `text` must already be valid JSON number syntax (the parser checks it).
    init(validated text: String) { self.text = text }

    /// A number from JSON text, or nil when it is not valid JSON number syntax.
    public init?(text: String) {
        guard text.wholeMatch(of: /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/) != nil else { return nil }
        self.text = text
    }

    public init(_ value: Double) {
        text = value.isFinite ? "\(value)" : "0"
    }

    /// The nearest double; ±infinity for numbers beyond its range (`1e400`).
    public var doubleValue: Double { Double(text) ?? 0 }

    /// Written as an integer: no fraction, no exponent.
    public var isIntegerSyntax: Bool { !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) }

    public var description: String { text }

    public static func == (a: JSONNumber, b: JSONNumber) -> Bool {
        if a.text == b.text { return true }
        if a.isIntegerSyntax && b.isIntegerSyntax { return false }
        let (x, y) = (a.doubleValue, b.doubleValue)
        return x.isFinite && x == y
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(doubleValue) }
}

public typealias JSONObject = [String: JSONValue]

extension JSONValue {
    public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var isNull: Bool { self == .null }

    /// Integers, and other numbers with no fractional part (`4.0`, `1e3`) within ±9e15.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .number(let n):
            let d = n.doubleValue
            return d.rounded() == d && abs(d) < 9.0e15 ? Int64(d) : nil
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .number(let n): return n.doubleValue
        default: return nil
        }
    }

    public var isNumber: Bool {
        switch self {
        case .int, .number: true
        default: false
        }
    }

    public subscript(key: String) -> JSONValue? { objectValue?[key] }

    public subscript(index: Int) -> JSONValue? {
        guard let array = arrayValue, array.indices.contains(index) else { return nil }
        return array[index]
    }

    /// The JSON type name, for error messages ("expected a string, got an array").
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

// MARK: - Parsing

extension JSONValue {
    /// Parses a JSON document (RFC 8259, strict). Errors say what was wrong and where
    /// ("line 3, column 14").
    public static func parse(_ data: Data) throws -> JSONValue {
        var parser = JSONParser(bytes: [UInt8](data))
        return try parser.document()
    }

    public static func parse(_ text: String) throws -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        return try parser.document()
    }
}

public struct JSONParseError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

private struct JSONParser {
    let bytes: [UInt8]
    var index = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

    mutating func document() throws -> JSONValue {
        skipSpace()
        if index >= bytes.count { throw failure("empty document; expected a JSON value") }
        let value = try self.value()
        skipSpace()
        if index < bytes.count { throw failure("unexpected \(describe(bytes[index])) after the JSON value") }
        return value
    }

    func failure(_ message: String) -> JSONParseError {
        var line = 1, column = 1
        for byte in bytes[..<min(index, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return JSONParseError(message: "\(message) at line \(line), column \(column)")
    }

    func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7f ? "'\(Character(UnicodeScalar(byte)))'" : "byte 0x" + String(byte, radix: 16)
    }

    mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D {
            index += 1
        }
    }

    func at(_ ascii: Unicode.Scalar) -> Bool { index < bytes.count && bytes[index] == UInt8(ascii: ascii) }

    mutating func value() throws -> JSONValue {
        guard index < bytes.count else { throw failure("unexpected end of input; expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case Self.quote: return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        case let byte: throw failure("unexpected \(describe(byte)); expected a value")
        }
    }

    mutating func literal(_ word: String) throws {
        let expected = Array(word.utf8)
        guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else {
            throw failure("invalid literal; expected \(word)")
        }
        index += expected.count
    }

    mutating func enter() throws {
        depth += 1
        if depth > 512 { throw failure("nested too deeply") }
    }

    mutating func object() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var object: JSONObject = [:]
        skipSpace()
        if at("}") {
            index += 1
            return .object(object)
        }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == Self.quote else { throw failure("expected a \"key\" in the object") }
            let key = try string()
            skipSpace()
            guard at(":") else { throw failure("expected ':' after the key \"\(key)\"") }
            index += 1
            skipSpace()
            object[key] = try value()
            skipSpace()
            guard index < bytes.count else { throw failure("unexpected end of input in an object") }
            if at(",") {
                index += 1
                continue
            }
            if at("}") {
                index += 1
                return .object(object)
            }
            throw failure("expected ',' or '}' in the object, got \(describe(bytes[index]))")
        }
    }

    mutating func array() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var array: [JSONValue] = []
        skipSpace()
        if at("]") {
            index += 1
            return .array(array)
        }
        while true {
            skipSpace()
            array.append(try value())
            skipSpace()
            guard index < bytes.count else { throw failure("unexpected end of input in an array") }
            if at(",") {
                index += 1
                continue
            }
            if at("]") {
                index += 1
                return .array(array)
            }
            throw failure("expected ',' or ']' in the array, got \(describe(bytes[index]))")
        }
    }

    mutating func string() throws -> String {
        index += 1  // the opening quote
        var result = String.UnicodeScalarView()
        var runStart = index
        func flush(_ end: Int) throws {
            guard runStart < end else { return }
            guard let text = String(validating: bytes[runStart..<end], as: UTF8.self) else {
                throw failure("invalid UTF-8 in a string")
            }
            result.append(contentsOf: text.unicodeScalars)
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == Self.quote {
                try flush(index)
                index += 1
                return String(result)
            }
            if byte < 0x20 { throw failure("control character in a string (escape it)") }
            guard byte == Self.backslash else {
                index += 1
                continue
            }
            try flush(index)
            index += 1
            guard index < bytes.count else { break }
            switch bytes[index] {
            case Self.quote: result.append("\"")
            case Self.backslash: result.append("\\")
            case UInt8(ascii: "/"): result.append("/")
            case UInt8(ascii: "b"): result.append("\u{08}")
            case UInt8(ascii: "f"): result.append("\u{0C}")
            case UInt8(ascii: "n"): result.append("\n")
            case UInt8(ascii: "r"): result.append("\r")
            case UInt8(ascii: "t"): result.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard index + 2 < bytes.count, bytes[index + 1] == Self.backslash, bytes[index + 2] == UInt8(ascii: "u") else {
                        throw failure("unpaired surrogate in a \\u escape")
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("invalid low surrogate in a \\u escape") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = UnicodeScalar(code) else { throw failure("invalid \\u escape") }
                result.append(scalar)
            default:
                throw failure("invalid escape \\\(Character(UnicodeScalar(bytes[index])))")
            }
            index += 1
            runStart = index
        }
        throw failure("unterminated string")
    }

    /// The 4 hex digits after `\u`; leaves `index` on the last one.
    mutating func hex4() throws -> UInt32 {
        guard index + 4 < bytes.count,
            let code = UInt32(String(decoding: bytes[(index + 1)...(index + 4)], as: UTF8.self), radix: 16)
        else {
            throw failure("invalid \\u escape; expected 4 hex digits")
        }
        index += 4
        return code
    }

    mutating func digits() -> Int {
        let from = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
        return index - from
    }

    mutating func number() throws -> JSONValue {
        let start = index
        var isInteger = true
        if at("-") { index += 1 }
        let whole = digits()
        guard whole > 0 else { throw failure("invalid number; expected a digit") }
        if whole > 1 && bytes[index - whole] == UInt8(ascii: "0") { throw failure("invalid number; no leading zeros") }
        if at(".") {
            isInteger = false
            index += 1
            guard digits() > 0 else { throw failure("invalid number; expected a digit after '.'") }
        }
        if at("e") || at("E") {
            isInteger = false
            index += 1
            if at("+") || at("-") { index += 1 }
            guard digits() > 0 else { throw failure("invalid number; expected a digit in the exponent") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        // "-0" is an integer that Int64 would write back as "0": keep its text.
        if isInteger, let int = Int64(text), int != 0 || bytes[start] != UInt8(ascii: "-") { return .int(int) }
        // Kept whatever its size: PostgreSQL's jsonb takes `1e400`, and a number is data until a
        // field's declared range says otherwise.
        return .number(JSONNumber(validated: text))
    }
}

// MARK: - Equality

extension JSONValue {
    /// Numbers compare by value: 2 and 2.0 are the same JSON number (integers beyond 64
    /// bits compare digit by digit, so they are never confused by rounding).
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.int(let x), .number(let y)), (.number(let y), .int(let x)):
            return y.isIntegerSyntax ? String(x) == y.text : Double(x) == y.doubleValue
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int, .number: hasher.combine(doubleValue)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object(let o): hasher.combine(o)
        }
    }
}

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text with sorted keys.
    public var description: String { serialized() }

    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(64)
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .number(let n): out += n.text
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let a):
            if a.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                if pretty { Self.newline(&out, indent + 1) }
                v.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { Self.newline(&out, indent) }
            out += "]"
        case .object(let o):
            if o.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                if pretty { Self.newline(&out, indent + 1) }
                Self.writeString(key, to: &out)
                out += pretty ? ": " : ":"
                o[key]!.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { Self.newline(&out, indent) }
            out += "}"
        }
    }

    private static func newline(_ out: inout String, _ indent: Int) {
        out += "\n"
        out += String(repeating: "  ", count: indent)
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSONValue {
    /// `.null` for nil, so optional fields can be written without branching.
    public init(_ string: String?) { self = string.map(JSONValue.string) ?? .null }
    public init(_ int: Int) { self = .int(Int64(int)) }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Drops null members: responses omit absent fields instead of writing `null`.
    public var compacted: JSONObject { filter { !$0.value.isNull } }
}
