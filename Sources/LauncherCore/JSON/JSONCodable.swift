import Foundation

// `JSONValue` as a `Codable` value, and a decoder and an encoder over `JSONValue` trees.
//
// Request bodies, stored jsonb and backend replies are parsed with `JSONValue.parse` (exact
// numbers, errors with line and column) and then decoded into typed structs with
// `JSONValueDecoder`, which hands `JSONValue` members over untouched: a free-form field (a
// workflow's outputs inside a WES reply) keeps every number exactly as the backend wrote it.
// Foundation's `JSONDecoder` would turn `3.0` into a `Double` and back into `3`.

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        if let tree = decoder as? TreeDecoder {
            self = tree.value
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let int = try? container.decode(Int64.self) {
            self = .int(int)
        } else if let double = try? container.decode(Double.self) {
            self = .double(double)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else if let object = try? container.decode([String: JSONValue].self) {
            self = .object(object)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        if let tree = encoder as? TreeEncoder {
            tree.store(self)
            return
        }
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        // Exact where the encoder writes decimals exactly; other encoders get the nearest double.
        case .number(let n):
            if let decimal = Decimal(string: n.text) { try container.encode(decimal) } else { try container.encode(n.doubleValue) }
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

// MARK: - Decoding from a tree

/// Decodes `Decodable` types from a `JSONValue`. Dates are ISO-8601 strings (with or without
/// fractional seconds), as every service the launcher talks to writes them.
public enum JSONValueDecoder {
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, codingPath: [any CodingKey] = []) throws -> T {
        try TreeDecoder(value, codingPath).decode(type)
    }

    /// Parses `data` and decodes it: the usual way to read a backend's reply.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decode(type, from: try JSONValue.parse(data))
    }

    /// A decoding error as one line: where in the document and what was wrong
    /// ("runs[2].state: expected a string, got a number").
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return text.isEmpty ? "the document" : text
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): required"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
    init(_ string: String) { self.stringValue = string }
}

final class TreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: JSONValue, _ codingPath: [any CodingKey]) {
        self.value = value
        self.codingPath = codingPath
    }

    func mismatch(_ expected: String) -> DecodingError {
        .typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "expected \(expected), got \(value.typeName)"))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw mismatch("an object") }
        return KeyedDecodingContainer(Keyed<Key>(object: object, decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else { throw mismatch("an array") }
        return Unkeyed(array: array, decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(decoder: self) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if type == JSONValue.self { return value as! T }
        if type == Date.self { return try decodeDate() as! T }
        return try T(from: self)
    }

    func decodeDate() throws -> Date {
        guard case .string(let text) = value else { throw mismatch("an ISO-8601 date string") }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\"\(text)\" is not an ISO-8601 date"))
    }

    func child(_ value: JSONValue, _ key: any CodingKey) -> TreeDecoder { TreeDecoder(value, codingPath + [key]) }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let object: JSONObject
        let decoder: TreeDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

        func member(_ key: Key) throws -> JSONValue {
            guard let value = object[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "required"))
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { (object[key.stringValue] ?? .null).isNull }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try decoder.child(try member(key), key).decode(type)
        }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            guard let value = object[key.stringValue], !value.isNull else { return nil }
            return try decoder.child(value, key).decode(type)
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<
            NestedKey
        > {
            try decoder.child(try member(key), key).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try decoder.child(try member(key), key).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder { decoder }
        func superDecoder(forKey key: Key) throws -> any Decoder { decoder.child(object[key.stringValue] ?? .null, key) }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let array: [JSONValue]
        let decoder: TreeDecoder
        var currentIndex = 0
        var codingPath: [any CodingKey] { decoder.codingPath }
        var count: Int? { array.count }
        var isAtEnd: Bool { currentIndex >= array.count }

        mutating func next() throws -> TreeDecoder {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(
                    Any.self, .init(codingPath: codingPath, debugDescription: "the array has too few elements"))
            }
            defer { currentIndex += 1 }
            return decoder.child(array[currentIndex], AnyCodingKey(intValue: currentIndex))
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, array[currentIndex].isNull else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try next().container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
        mutating func superDecoder() throws -> any Decoder { try next() }
    }

    struct Single: SingleValueDecodingContainer {
        let decoder: TreeDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        var value: JSONValue { decoder.value }

        func decodeNil() -> Bool { value.isNull }

        func decode(_ type: Bool.Type) throws -> Bool {
            guard case .bool(let b) = value else { throw decoder.mismatch("true or false") }
            return b
        }

        func decode(_ type: String.Type) throws -> String {
            guard case .string(let s) = value else { throw decoder.mismatch("a string") }
            return s
        }

        func decode(_ type: Double.Type) throws -> Double {
            guard let d = value.doubleValue else { throw decoder.mismatch("a number") }
            return d
        }

        func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

        func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
            guard let i = value.intValue else { throw decoder.mismatch("a whole number") }
            guard let exact = I(exactly: i) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(i) is out of range"))
            }
            return exact
        }

        func decode(_ type: Int.Type) throws -> Int { try integer(type) }
        func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
        func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
        func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
        func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(type) }
    }
}

// MARK: - Encoding to a tree

/// Encodes `Encodable` types into a `JSONValue` (dates as ISO-8601 strings with milliseconds;
/// nil optionals left out), for jsonb columns and request bodies.
public enum JSONValueEncoder {
    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let encoder = TreeEncoder(codingPath: [])
        try encoder.encodeValue(value)
        return encoder.result
    }

    /// Like `encode`, for types whose encoding cannot fail (no non-finite doubles, no custom
    /// throwing encoders): the launcher's own records.
    public static func object<T: Encodable>(_ value: T) -> JSONObject {
        (try? encode(value))?.objectValue ?? [:]
    }
}

/// A node under construction: containers write into it, and nested containers share it.
final class TreeNode {
    var scalar: JSONValue?
    var members: [String: TreeNode]?
    var elements: [TreeNode]?

    var value: JSONValue {
        if let members { return .object(members.mapValues(\.value)) }
        if let elements { return .array(elements.map(\.value)) }
        return scalar ?? .null
    }
}

final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let node: TreeNode

    init(codingPath: [any CodingKey], node: TreeNode = TreeNode()) {
        self.codingPath = codingPath
        self.node = node
    }

    var result: JSONValue { node.value }

    func store(_ value: JSONValue) {
        node.scalar = value
        node.members = nil
        node.elements = nil
    }

    func encodeValue<T: Encodable>(_ value: T) throws {
        if let json = value as? JSONValue {
            store(json)
        } else if let date = value as? Date {
            store(Timestamp.json(date))
        } else {
            try value.encode(to: self)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.members == nil { node.members = [:] }
        return KeyedEncodingContainer(Keyed<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if node.elements == nil { node.elements = [] }
        return Unkeyed(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoder: self) }

    func childForKey(_ key: any CodingKey) -> TreeEncoder {
        let child = TreeNode()
        node.members?[key.stringValue] = child
        return TreeEncoder(codingPath: codingPath + [key], node: child)
    }

    func appendChild() -> TreeEncoder {
        let child = TreeNode()
        let index = node.elements?.count ?? 0
        node.elements?.append(child)
        return TreeEncoder(codingPath: codingPath + [AnyCodingKey(intValue: index)], node: child)
    }

    static func number(_ value: Double, _ path: [any CodingKey]) throws -> JSONValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "JSON has no \(value)"))
        }
        return .double(value)
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: TreeEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        func set(_ value: JSONValue, _ key: Key) { encoder.childForKey(key).store(value) }

        mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
        mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
        mutating func encode(_ value: Double, forKey key: Key) throws { set(try TreeEncoder.number(value, codingPath + [key]), key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { set(.int(value), key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try encoder.childForKey(key).encodeValue(value) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<
            NestedKey
        > {
            encoder.childForKey(key).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            encoder.childForKey(key).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { encoder.childForKey(AnyCodingKey("super")) }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder.childForKey(key) }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let encoder: TreeEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        var count: Int { encoder.node.elements?.count ?? 0 }

        mutating func encodeNil() throws { encoder.appendChild().store(.null) }
        mutating func encode(_ value: Bool) throws { encoder.appendChild().store(.bool(value)) }
        mutating func encode(_ value: String) throws { encoder.appendChild().store(.string(value)) }
        mutating func encode(_ value: Double) throws { encoder.appendChild().store(try TreeEncoder.number(value, codingPath)) }
        mutating func encode(_ value: Int) throws { encoder.appendChild().store(.int(Int64(value))) }
        mutating func encode<T: Encodable>(_ value: T) throws { try encoder.appendChild().encodeValue(value) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            encoder.appendChild().container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { encoder.appendChild().unkeyedContainer() }
        mutating func superEncoder() -> any Encoder { encoder.appendChild() }
    }

    struct Single: SingleValueEncodingContainer {
        let encoder: TreeEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        mutating func encodeNil() throws { encoder.store(.null) }
        mutating func encode(_ value: Bool) throws { encoder.store(.bool(value)) }
        mutating func encode(_ value: String) throws { encoder.store(.string(value)) }
        mutating func encode(_ value: Double) throws { encoder.store(try TreeEncoder.number(value, codingPath)) }
        mutating func encode(_ value: Float) throws { encoder.store(try TreeEncoder.number(Double(value), codingPath)) }
        mutating func encode(_ value: Int) throws { encoder.store(.int(Int64(value))) }
        mutating func encode(_ value: Int8) throws { encoder.store(.int(Int64(value))) }
        mutating func encode(_ value: Int16) throws { encoder.store(.int(Int64(value))) }
        mutating func encode(_ value: Int32) throws { encoder.store(.int(Int64(value))) }
        mutating func encode(_ value: Int64) throws { encoder.store(.int(value)) }
        mutating func encode(_ value: UInt8) throws { encoder.store(.int(Int64(value))) }
        mutating func encode(_ value: UInt16) throws { encoder.store(.int(Int64(value))) }
        mutating func encode(_ value: UInt32) throws { encoder.store(.int(Int64(value))) }
        mutating func encode(_ value: UInt) throws {
            encoder.store(Int64(exactly: value).map(JSONValue.int) ?? .number(JSONNumber(validated: String(value))))
        }
        mutating func encode(_ value: UInt64) throws {
            encoder.store(Int64(exactly: value).map(JSONValue.int) ?? .number(JSONNumber(validated: String(value))))
        }
        mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
    }
}
