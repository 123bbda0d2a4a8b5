import LauncherCore
import LauncherStageSupport

/// What a job asks SLURM for. Configured on the executor; a retry may override any of it
/// (more memory after OUT_OF_MEMORY, more time after TIMEOUT), recorded on the new attempt.
struct SlurmResources: ConfigStruct, Equatable {
    var partition: String?
    var account: String?
    var qos: String?
    var cpus: Int?
    var memory: SlurmMemory?
    var time: SlurmTime?
    var gpus: Int?

    static let fields: [Field<SlurmResources>] = [
        Field("partition", \.partition, slurmName("partition"), "SLURM partition (--partition); default: the cluster's default."),
        Field("account", \.account, slurmName("account"), "SLURM account (--account)."),
        Field("qos", \.qos, slurmName("qos"), "Quality of service (--qos)."),
        Field("cpus", \.cpus, .range(1...100_000), "CPUs per job (--cpus-per-task)."),
        Field("memory", \.memory, "Memory per job (--mem): megabytes, or with a K/M/G/T suffix, e.g. \"4G\"."),
        Field("time", \.time, "Time limit (--time): minutes, HH:MM:SS, D-HH:MM:SS …"),
        Field("gpus", \.gpus, .range(0...1024), "GPUs per job (--gpus)."),
    ]

    static func slurmName(_ what: String) -> Constraint {
        .matching("[A-Za-z0-9_.+-]+", "is not a valid SLURM \(what) name", max: 256)
    }

    /// `override`'s values where it has them, else this.
    func overridden(by override: SlurmResources) -> SlurmResources {
        SlurmResources(
            partition: override.partition ?? partition, account: override.account ?? account,
            qos: override.qos ?? qos, cpus: override.cpus ?? cpus, memory: override.memory ?? memory,
            time: override.time ?? time, gpus: override.gpus ?? gpus)
    }

    /// The resources a workflow's stored overrides ask for (nothing when unreadable).
    static func stored(_ overrides: JSONObject) -> SlurmResources {
        (try? decode(overrides, at: "overrides", context: .stored, what: "the SLURM overrides")) ?? SlurmResources()
    }

    var arguments: [String] {
        var args: [String] = []
        if let partition { args.append("--partition=\(partition)") }
        if let account { args.append("--account=\(account)") }
        if let qos { args.append("--qos=\(qos)") }
        if let cpus { args.append("--cpus-per-task=\(cpus)") }
        if let memory { args.append("--mem=\(memory.text)") }
        if let time { args.append("--time=\(time.text)") }
        if let gpus, gpus > 0 { args.append("--gpus=\(gpus)") }
        return args
    }
}

/// `array`: tasks per job array; `true` means 1000, `false` or absent means one job per item.
struct JobArraySize: ConfigValue {
    let tasks: Int

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> JobArraySize {
        if json == .bool(true) { return JobArraySize(tasks: 1000) }
        return JobArraySize(tasks: try Int.read(json, .range(2...10_000), at: path, context))
    }

    var configJSON: JSONValue { .int(Int64(tasks)) }
    static var typeSchema: JSONObject { ["oneOf": [["type": "integer", "minimum": 2, "maximum": 10_000], ["type": "boolean"]]] }
    static var typeName: String { "integer or true" }
}
