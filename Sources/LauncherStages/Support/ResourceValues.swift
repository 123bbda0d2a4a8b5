import LauncherCore
import LauncherStageSupport

// Resource values as backends spell them, each parsed into a bounded integer so a request can
// neither overflow a conversion nor ask a backend for an absurd amount (`memory: 9e30T`).

/// A memory size. SLURM takes megabytes or a K/M/G/T suffix (`4G`, `4000`); podman and docker
/// take bytes or a b/k/m/g suffix (`512m`). A bare whole number is accepted as either.
protocol MemorySize: ConfigValue {
    /// The normalised text the backend is given.
    var text: String { get }
    init(text: String, bytes: Int64)
    /// Unit letters (lower case) with their size in bytes; `""` is the bare number's unit.
    static var units: [String: Int64] { get }
    static var example: String { get }
    static func normalise(_ text: String) -> String
}

extension MemorySize {
    /// At most 64 TiB: more than any node has, far below any overflow.
    static var maxBytes: Int64 { 64 << 40 }

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Self {
        let text: String
        switch json {
        case .string(let s): text = s
        case .int(let i): text = String(i)
        default: throw path.invalid("expected a memory size such as \"\(example)\", got \(json.typeName)")
        }
        let refusal = path.invalid("\"\(Constraint.excerpt(text, max: 40))\" is not a memory size; use e.g. \"\(example)\"")
        guard text.utf8.count <= 24, let match = text.wholeMatch(of: /([1-9][0-9]*)([A-Za-z]?)/),
              let unit = units[match.output.2.lowercased()] else { throw refusal }
        guard let number = Int64(match.output.1) else { throw refusal }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        guard !overflow, bytes <= maxBytes else {
            throw path.invalid("\"\(text)\" is more than the 64 TiB the launcher allows")
        }
        return Self(text: normalise(text), bytes: bytes)
    }

    var configJSON: JSONValue { .string(text) }
    static var typeSchema: JSONObject { ["type": "string", "pattern": "^[1-9][0-9]*[A-Za-z]?$"] }
    static var typeName: String { "string" }
}

struct SlurmMemory: MemorySize, Hashable {
    let text: String
    let bytes: Int64
    init(text: String, bytes: Int64) {
        self.text = text
        self.bytes = bytes
    }
    static let units: [String: Int64] = ["": 1 << 20, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
    static let example = "4G"
    static func normalise(_ text: String) -> String { text.uppercased() }
}

struct ContainerMemory: MemorySize, Hashable {
    let text: String
    let bytes: Int64
    init(text: String, bytes: Int64) {
        self.text = text
        self.bytes = bytes
    }
    static let units: [String: Int64] = ["": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
    static let example = "512m"
    static func normalise(_ text: String) -> String { text.lowercased() }
}

/// A SLURM time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS; at most a year.
struct SlurmTime: ConfigValue, Hashable {
    let text: String

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> SlurmTime {
        let text: String
        switch json {
        case .string(let s): text = s
        case .int(let i): text = String(i)
        default: throw path.invalid("expected a SLURM time limit such as \"2:00:00\", got \(json.typeName)")
        }
        let refusal = path.invalid("\"\(Constraint.excerpt(text, max: 40))\" is not a SLURM time limit; use minutes, HH:MM:SS or D-HH:MM:SS")
        guard text.utf8.count <= 20, text != "0", let match = text.wholeMatch(of: /(?:([0-9]+)-)?([0-9]+)((?::[0-9]{1,2}){0,2})/) else {
            throw refusal
        }
        // Bound the total: each part is short, so the arithmetic cannot overflow.
        let days = Int(match.output.1 ?? "0") ?? 0
        let first = Int(match.output.2) ?? 0
        guard days <= 365, first <= 525_600 else { throw path.invalid("\"\(text)\" is longer than the year the launcher allows") }
        return SlurmTime(text: text)
    }

    var configJSON: JSONValue { .string(text) }
    static var typeSchema: JSONObject { ["type": "string", "pattern": "^([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}$"] }
    static var typeName: String { "string" }
}
