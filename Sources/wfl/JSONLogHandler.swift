import Foundation
import LauncherCore
import Logging

/// `--log-format json`: one JSON object per line on stderr (time, level, message, and the
/// metadata: request id, workload, workflow, error …), for log collectors.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    private static let lock = NSLock()

    init(label: String, level: Logger.Level) {
        self.label = label
        logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        var object: JSONObject = [
            "time": Timestamp.json(Date()), "level": .string(level.rawValue), "message": .string(message.description),
            "logger": .string(label),
        ]
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { _, new in new }) {
            // Hummingbird's request id, under the name the API's error bodies use.
            object[key == "hb.request.id" ? "requestId" : key] = Self.json(value)
        }
        let line = JSONValue.object(object).description + "\n"
        Self.lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        Self.lock.unlock()
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let values): .object(values.mapValues(json))
        }
    }
}
