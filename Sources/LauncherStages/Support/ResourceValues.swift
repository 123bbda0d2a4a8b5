import LauncherCore
import LauncherStageSupport

// Resource values as backends spell them, each parsed into a bounded integer so a request can
// neither overflow a conversion nor ask a backend for an absurd amount (`memory: 9e30T`).

/// How a backend spells memory: SLURM takes megabytes or a K/M/G/T suffix (`4G`, `4000`);
/// podman and docker take bytes or a b/k/m/g suffix (`512m`).
protocol MemorySyntax: Sendable {
    /// Unit letters (lower case) with their size in bytes; `""` is the bare number's unit.
    static var units: [String: Int64] { get }
    static var example: String { get }
    static func normalise(_ text: String) -> String
}

enum SlurmMemorySyntax: MemorySyntax {
    static let units: [String: Int64] = ["": 1 << 20, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
    static let example = "4G"
    static func normalise(_ text: String) -> String { text.uppercased() }
}

enum ContainerMemorySyntax: MemorySyntax {
    static let units: [String: Int64] = ["": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
    static let example = "512m"
    static func normalise(_ text: String) -> String { text.lowercased() }
}

typealias SlurmMemory = MemorySize<SlurmMemorySyntax>
typealias ContainerMemory = MemorySize<ContainerMemorySyntax>

/// A memory size in a backend's syntax, parsed into bytes (at most 64 TiB: more than any node
/// has, far below any overflow). A bare whole number is accepted as either syntax's.
struct MemorySize<Syntax: MemorySyntax>: ConfigValue, Hashable {
    /// The normalised text the backend is given.
    let text: String
    let bytes: Int64

    static var maxBytes: Int64 { 64 << 40 }

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Self {
        let text: String
        switch json {
        case .string(let s): text = s
        case .int(let i): text = String(i)
        default: throw path.invalid("expected a memory size such as \"\(Syntax.example)\", got \(json.typeName)")
        }
        let refusal = path.invalid("\"\(Constraint.excerpt(text, max: 40))\" is not a memory size; use e.g. \"\(Syntax.example)\"")
        guard text.utf8.count <= 24, let match = text.wholeMatch(of: /([1-9][0-9]*)([A-Za-z]?)/),
            let unit = Syntax.units[match.output.2.lowercased()], let number = Int64(match.output.1)
        else { throw refusal }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        guard !overflow, bytes <= maxBytes else {
            throw path.invalid("\"\(text)\" is more than the 64 TiB the launcher allows")
        }
        return Self(text: Syntax.normalise(text), bytes: bytes)
    }

    var configJSON: JSONValue { .string(text) }
    static var typeSchema: JSONObject { ["type": "string", "pattern": "^[1-9][0-9]*[A-Za-z]?$"] }
    static var typeName: String { "string" }
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
        let refusal = path.invalid(
            "\"\(Constraint.excerpt(text, max: 40))\" is not a SLURM time limit; use minutes, HH:MM:SS or D-HH:MM:SS")
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
