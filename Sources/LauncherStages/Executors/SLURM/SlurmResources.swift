import LauncherCore

/// What a job asks SLURM for. Configured on the executor; a retry may override any of it
/// (more memory after OUT_OF_MEMORY, more time after TIMEOUT), recorded on the new attempt.
struct SlurmResources: Sendable, Equatable {
    var partition: String?
    var account: String?
    var qos: String?
    var cpus: Int?
    /// As sbatch takes it: a number of megabytes, or with a K, M, G or T suffix.
    var memory: String?
    /// As sbatch takes it: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
    var time: String?
    var gpus: Int?

    static let fieldNames = ["partition", "account", "qos", "cpus", "memory", "time", "gpus"]

    static let fields: [ConfigField] = [
        ConfigField("partition", "string", "SLURM partition (--partition); default: the cluster's default."),
        ConfigField("account", "string", "SLURM account (--account)."),
        ConfigField("qos", "string", "Quality of service (--qos)."),
        ConfigField("cpus", "integer", "CPUs per job (--cpus-per-task)."),
        ConfigField("memory", "string", "Memory per job (--mem): megabytes, or with a K/M/G/T suffix, e.g. \"4G\"."),
        ConfigField("time", "string", "Time limit (--time): minutes, HH:MM:SS, D-HH:MM:SS …"),
        ConfigField("gpus", "integer", "GPUs per job (--gpus)."),
    ]

    static func read(_ reader: ConfigReader) throws -> SlurmResources {
        func name(_ key: String) throws -> String? {
            guard let value = try reader.string(key) else { return nil }
            guard value.wholeMatch(of: /[A-Za-z0-9_.+-]+/) != nil else {
                throw LauncherError.invalid(reader.path(key), "\"\(value)\" is not a valid SLURM \(key) name")
            }
            return value
        }
        var resources = SlurmResources()
        resources.partition = try name("partition")
        resources.account = try name("account")
        resources.qos = try name("qos")
        resources.cpus = try reader.int("cpus", min: 1, max: 100_000)
        resources.gpus = try reader.int("gpus", min: 0, max: 1024)
        if let memory = try reader.value(asText: "memory") {
            guard memory.wholeMatch(of: /[1-9][0-9]*[KMGTkmgt]?/) != nil else {
                throw LauncherError.invalid(reader.path("memory"), "\"\(memory)\" is not a memory size; use megabytes or a K/M/G/T suffix, e.g. \"4G\"")
            }
            resources.memory = memory.uppercased()
        }
        if let time = try reader.value(asText: "time") {
            guard time.wholeMatch(of: /([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}/) != nil, time != "0" else {
                throw LauncherError.invalid(reader.path("time"), "\"\(time)\" is not a SLURM time limit; use minutes, HH:MM:SS or D-HH:MM:SS")
            }
            resources.time = time
        }
        return resources
    }

    /// `override`'s values where it has them, else this.
    func overridden(by override: SlurmResources) -> SlurmResources {
        SlurmResources(partition: override.partition ?? partition, account: override.account ?? account,
                       qos: override.qos ?? qos, cpus: override.cpus ?? cpus, memory: override.memory ?? memory,
                       time: override.time ?? time, gpus: override.gpus ?? gpus)
    }

    var arguments: [String] {
        var args: [String] = []
        if let partition { args.append("--partition=\(partition)") }
        if let account { args.append("--account=\(account)") }
        if let qos { args.append("--qos=\(qos)") }
        if let cpus { args.append("--cpus-per-task=\(cpus)") }
        if let memory { args.append("--mem=\(memory)") }
        if let time { args.append("--time=\(time)") }
        if let gpus, gpus > 0 { args.append("--gpus=\(gpus)") }
        return args
    }

    var json: JSONObject {
        var object: JSONObject = [:]
        if let partition { object["partition"] = .string(partition) }
        if let account { object["account"] = .string(account) }
        if let qos { object["qos"] = .string(qos) }
        if let cpus { object["cpus"] = .int(Int64(cpus)) }
        if let memory { object["memory"] = .string(memory) }
        if let time { object["time"] = .string(time) }
        if let gpus { object["gpus"] = .int(Int64(gpus)) }
        return object
    }
}

extension ConfigReader {
    /// A string, or a whole number written as one (`"memory": 4000`, `"time": 30`).
    func value(asText key: String) throws -> String? {
        guard has(key) else { return nil }
        if let int = try? int(key) { return String(int) }
        return try string(key)
    }
}
