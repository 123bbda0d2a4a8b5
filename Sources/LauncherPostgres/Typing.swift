import Foundation
import LauncherCore
import NIOCore
import PostgresNIO

// How the launcher's own types travel to and from PostgreSQL: statuses as bound text values,
// JSON as jsonb parsed by the launcher's exact parser (numbers keep their text), and Codable
// records (a workflow's error, a source's state) through that JSON.

extension WorkflowStatus: PostgresNonThrowingEncodable, PostgresDecodable {
    public static var psqlType: PostgresDataType { .text }
    public static var psqlFormat: PostgresFormat { .binary }

    public func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeString(rawValue)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        guard let text = buffer.readString(length: buffer.readableBytes), let status = WorkflowStatus(rawValue: text) else {
            throw PostgresDecodingError.Code.failure
        }
        self = status
    }
}

extension WorkflowStatus: PostgresArrayEncodable {
    public static var psqlArrayType: PostgresDataType { .textArray }
}

extension WorkflowStatus {
    /// `('Submitted', 'Queued', …)` for partial-index predicates, written from the enum (never
    /// from input): the planner matches a literal list against an index's `WHERE` clause.
    static func sqlList(_ statuses: [WorkflowStatus]) -> String {
        "(" + statuses.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }

    /// `'Pending'`: one status as a literal, for the same reason.
    var sql: String { "'\(rawValue)'" }

    static let activeList = sqlList(WorkflowStatus.active)
    static let finalList = sqlList(WorkflowStatus.final)
    /// What an aborted workload still has to abort at the backend.
    static let abortableList = sqlList([.pending] + WorkflowStatus.active.filter { $0 != .aborting })
}

extension JSONValue: PostgresNonThrowingEncodable, PostgresDecodable {
    public static var psqlType: PostgresDataType { .jsonb }
    public static var psqlFormat: PostgresFormat { .binary }

    public func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger(UInt8(1))  // jsonb's binary format: a version byte, then the text
        byteBuffer.writeString(description)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        if format == .binary && type == .jsonb {
            guard buffer.readInteger(as: UInt8.self) == 1 else { throw PostgresDecodingError.Code.failure }
        }
        guard let bytes = buffer.readBytes(length: buffer.readableBytes) else { throw PostgresDecodingError.Code.failure }
        do {
            self = try JSONValue.parse(Data(bytes))
        } catch {
            throw PostgresDecodingError.Code.failure
        }
    }
}

extension PostgresRandomAccessRow {
    /// A jsonb column; SQL NULL is `.null`.
    func json(_ index: Int) throws -> JSONValue {
        try self[index].decode(JSONValue?.self) ?? .null
    }

    /// A jsonb column holding an object; anything else is empty.
    func object(_ index: Int) throws -> JSONObject {
        try json(index).objectValue ?? [:]
    }

    /// A jsonb column decoded into a Codable record; SQL NULL (or JSON null) is nil.
    func record<T: Decodable>(_ index: Int, as type: T.Type) throws -> T? {
        let value = try json(index)
        if value.isNull { return nil }
        return try JSONValueDecoder.decode(type, from: value)
    }
}

extension Encodable {
    /// The record as a jsonb value, for binding.
    var jsonb: JSONValue { (try? JSONValueEncoder.encode(self)) ?? .null }
}
