import Foundation

/// ISO-8601 UTC timestamps with milliseconds, as every response writes them ("2021-07-14T15:36:47.123Z").
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }

    public static func json(_ date: Date?) -> JSONValue {
        date.map { .string(format($0)) } ?? .null
    }
}
