import Foundation
import LauncherCore
import LauncherSystem

/// `{"name": "SLURM", "command": "…{{field}}…" | "script": "/path", "workDir"?, "partition"?, …}`
///
/// Runs each item as a SLURM batch job (or a task of a job array) and tracks it:
///
/// - **Submit**: `sbatch --parsable` with the workflow's uuid as the job name and in the
///   comment. A wrapper runs the command with its output in the workflow's folder and writes
///   the exit code to `exit` through a rename. The job id goes into the database in the same
///   statement that moves the workflow from Pending to Submitted.
/// - **Poll**: one `squeue` per 500 active jobs; `sacct` (when accounting is on) only for jobs
///   that left `squeue`; else the exit file. A job seen nowhere for `lostAfterSeconds` is
///   Failed as lost. A SLURM command that errors or times out changes nothing: ask again.
/// - **Abort**: `scancel`, 100 jobs per call.
/// - **After a crash**: a workflow that may have been submitted is looked up by its job
///   name (`squeue --name`, `sacct --name`) and submitted again only if SLURM never saw it.
struct SlurmExecutor: Executor {
    enum Program: Sendable {
        case command(CommandScript)
        case script(String)
    }

    let program: Program
    let workDir: String?
    let resources: SlurmResources
    let extraArgs: [String]
    /// Items per job array; nil submits one job per item.
    let arraySize: Int?
    let maxSubmit: Int?
    let maxInFlight: Int?
    let slurmConf: String?
    let lostAfter: Double
    let commandTimeout: Double
    let pollSeconds: Double

    static let reservedArguments = ["--job-name", "-J", "--output", "-o", "--error", "-e", "--chdir", "-D", "--array", "-a",
                                    "--parsable", "--wrap", "--comment"]

    static let type = StageType<any Executor>(
        name: "SLURM",
        summary: "Runs each item as a SLURM batch job (or job-array task), tracked with batched squeue/sacct.",
        fields: [
            ConfigField("command", "string", "Shell command; {{field}} is replaced by the item's value, shell-quoted. Give command or script."),
            ConfigField("script", "string", "An executable script to run instead of command; inputs arrive as environment variables and inputs.json."),
            ConfigField("workDir", "string", "Shared folder for per-workflow scripts, logs and exit files (default $WFL_HOME/slurm)."),
        ] + SlurmResources.fields + [
            ConfigField("extraArgs", "array of strings", "More sbatch options, e.g. [\"--constraint=avx2\"]."),
            ConfigField("array", "integer or true", "Submit items as job arrays of at most this many tasks (true: 1000)."),
            ConfigField("maxSubmitPerTick", "integer", "Most jobs submitted per update of the workload."),
            ConfigField("maxActive", "integer", "Most jobs of this workload queued or running at once."),
            ConfigField("env", "object", "Extra environment variables (name: value)."),
            ConfigField("slurmConf", "string", "slurm.conf to use (SLURM_CONF); default: the launcher's environment."),
            ConfigField("lostAfterSeconds", "number", "How long a job may be missing from squeue, sacct and its exit file before it is failed as lost (default 120)."),
            ConfigField("commandTimeoutSeconds", "number", "Time limit for each sbatch/squeue/sacct/scancel call (default 60)."),
            ConfigField("pollSeconds", "number", "Seconds between status queries (default 5)."),
        ]
    ) { reader in
        let command = try reader.string("command")
        let script = try reader.string("script")
        let env = try reader.stringMap("env") ?? [:]
        let program: Program
        switch (command, script) {
        case (let command?, nil):
            guard !command.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw LauncherError.invalid(reader.path("command"), "must not be blank")
            }
            try CommandScript.validate(template: command, field: reader.path("command"), environment: env,
                                       environmentField: reader.path("env"))
            program = .command(CommandScript(template: command, environment: env))
        case (nil, let script?):
            try CommandScript.validate(template: "", field: reader.path("script"), environment: env, environmentField: reader.path("env"))
            program = .script(Self.absolute(script, reader.origin))
            if reader.origin == .request, !FileManager.default.isExecutableFile(atPath: Self.absolute(script, reader.origin)) {
                throw LauncherError.invalid(reader.path("script"), "\(script) is not an executable file")
            }
        case (nil, nil):
            throw LauncherError.invalid(reader.path("command"), "required: give command (a shell command) or script (a file to run)")
        case (.some, .some):
            throw LauncherError.invalid(reader.path("script"), "give command or script, not both")
        }
        let extraArgs = try (reader.array("extraArgs") ?? []).enumerated().map { index, value in
            let field = "\(reader.path("extraArgs"))[\(index)]"
            guard let argument = value.stringValue, argument.hasPrefix("-") else {
                throw LauncherError.invalid(field, "expected an sbatch option such as \"--constraint=avx2\"")
            }
            let name = String(argument.split(separator: "=").first ?? "")
            if reservedArguments.contains(name) {
                throw LauncherError.invalid(field, "\(name) is set by the launcher and cannot be given here")
            }
            return argument
        }
        var arraySize: Int?
        if let value = reader.object["array"], !value.isNull {
            if value == .bool(true) {
                arraySize = 1000
            } else if value != .bool(false) {
                arraySize = try reader.int("array", min: 2, max: 10_000)
            }
        }
        let slurmConf = try reader.string("slurmConf").map { Self.absolute($0, reader.origin) }
        if let slurmConf, reader.origin == .request, !FileManager.default.fileExists(atPath: slurmConf) {
            throw LauncherError.invalid(reader.path("slurmConf"), "\(slurmConf) does not exist")
        }
        return SlurmExecutor(
            program: program, workDir: try reader.string("workDir").map { Self.absolute($0, reader.origin) },
            resources: try SlurmResources.read(reader), extraArgs: extraArgs, arraySize: arraySize,
            maxSubmit: try reader.int("maxSubmitPerTick", min: 1), maxInFlight: try reader.int("maxActive", min: 1),
            slurmConf: slurmConf,
            lostAfter: try reader.number("lostAfterSeconds", min: 0, exclusiveMin: true) ?? 120,
            commandTimeout: try reader.number("commandTimeoutSeconds", min: 0, exclusiveMin: true) ?? 60,
            pollSeconds: try reader.number("pollSeconds", min: 0) ?? 5)
    }

    static func absolute(_ path: String, _ origin: ConfigOrigin) -> String {
        guard origin == .request else { return path }
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
    }

    var config: JSONObject {
        var config: JSONObject = ["name": "SLURM"]
        switch program {
        case .command(let script):
            config["command"] = .string(script.template)
            if !script.environment.isEmpty { config["env"] = .object(script.environment.mapValues(JSONValue.string)) }
        case .script(let path):
            config["script"] = .string(path)
        }
        config.merge(resources.json) { a, _ in a }
        if let workDir { config["workDir"] = .string(workDir) }
        if !extraArgs.isEmpty { config["extraArgs"] = .array(extraArgs.map(JSONValue.string)) }
        if let arraySize { config["array"] = .int(Int64(arraySize)) }
        if let maxSubmit { config["maxSubmitPerTick"] = .int(Int64(maxSubmit)) }
        if let maxInFlight { config["maxActive"] = .int(Int64(maxInFlight)) }
        if let slurmConf { config["slurmConf"] = .string(slurmConf) }
        if lostAfter != 120 { config["lostAfterSeconds"] = .double(lostAfter) }
        if commandTimeout != 60 { config["commandTimeoutSeconds"] = .double(commandTimeout) }
        if pollSeconds != 5 { config["pollSeconds"] = .double(pollSeconds) }
        return config
    }

    var maxActive: Int? { maxInFlight }
    var maxSubmitPerTick: Int? { maxSubmit }

    var client: SlurmClient { SlurmClient(slurmConf: slurmConf, timeout: .milliseconds(Int(commandTimeout * 1000))) }

    func validateRemotely(_ context: StageContext) async throws {
        try root(context).create()
    }

    func checkInputs(_ inputs: JSONObject) -> String? {
        guard case .command(let script) = program else { return nil }
        return script.check(inputs, field: "executor.command")
    }

    func validateOverrides(_ reader: ConfigReader) throws -> JSONObject {
        try reader.rejectUnknown(allowed: SlurmResources.fieldNames, stageDescription: "the SLURM executor's retry overrides")
        return try SlurmResources.read(reader).json
    }

    // MARK: Submit

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        var outcomes: [UUID: SubmitOutcome] = [:]
        // A workflow an earlier attempt may have submitted is looked up by its job name first.
        let uncertain = workflows.filter(\.mayExist)
        if !uncertain.isEmpty {
            do {
                for (uuid, found) in try await lookup(uncertain.map(\.uuid), context: context) {
                    outcomes[uuid] = .launched(Launched(
                        externalID: found.job, submission: found.array,
                        details: ["jobId": .string(found.job), "workDir": .string(folder(context, uuid).path)]))
                }
            } catch {
                // Unknown whether they exist: submitting again could run them twice. Wait.
                for workflow in uncertain { outcomes[workflow.uuid] = .deferred("cannot check SLURM for an earlier submission: \(error)") }
            }
        }
        var ready: [LaunchRequest] = []
        for workflow in workflows where outcomes[workflow.uuid] == nil {
            if let problem = checkInputs(workflow.inputs) {
                outcomes[workflow.uuid] = .failed(WorkflowError(problem))
                continue
            }
            do {
                try prepare(workflow, context: context)
                ready.append(workflow)
            } catch {
                outcomes[workflow.uuid] = .deferred("cannot write the job's files: \(error)")
            }
        }
        // Workflows with different retry overrides need different sbatch options.
        let groups = Dictionary(grouping: ready) { JSONValue.object($0.overrides) }
        for (overrides, group) in groups.sorted(by: { $0.key.description < $1.key.description }) {
            let resources = try self.resources.overridden(by: SlurmResources.read(ConfigReader(overrides.objectValue ?? [:], path: "overrides")))
            if let arraySize {
                for chunk in group.chunked(arraySize) {
                    outcomes.merge(await submitArray(Array(chunk), resources: resources, context: context)) { a, _ in a }
                }
            } else {
                outcomes.merge(await submitEach(group, resources: resources, context: context)) { a, _ in a }
            }
        }
        return outcomes
    }

    /// Writes the workflow's inputs and command script into its folder.
    private func prepare(_ workflow: LaunchRequest, context: StageContext) throws {
        let folder = self.folder(context, workflow.uuid)
        switch program {
        case .command(let script):
            try script.write(workflow: workflow, workload: context.workloadUUID, folder: folder)
        case .script(let path):
            let script = CommandScript(template: ProcessTools.shellQuote(path), environment: [:])
            try script.write(workflow: workflow, workload: context.workloadUUID, folder: folder)
        }
        // A stale record of an earlier, never-submitted array must not mislead a later lookup.
        try? FileManager.default.removeItem(at: folder.appendingPathComponent("array.json"))
    }

    /// One sbatch per workflow, a few at a time.
    private func submitEach(_ workflows: [LaunchRequest], resources: SlurmResources, context: StageContext) async -> [UUID: SubmitOutcome] {
        let results = await forEach(workflows, limit: 4) { workflow in await self.submitOne(workflow, resources: resources, context: context) }
        return Dictionary(results.map { ($0.0.uuid, $0.1) }, uniquingKeysWith: { a, _ in a })
    }

    private func submitOne(_ workflow: LaunchRequest, resources: SlurmResources, context: StageContext) async -> SubmitOutcome {
        let folder = self.folder(context, workflow.uuid)
        let id = workflow.uuid.uuidString.lowercased()
        do {
            try ProcessTools.writeAtomically(Self.wrapper(cd: "cd \(ProcessTools.shellQuote(folder.path)) || exit 120"),
                                             to: folder.appendingPathComponent("job.sh"), executable: true)
        } catch {
            return .deferred("cannot write job.sh: \(error)")
        }
        let arguments = [
            "--job-name=\(id)", "--comment=wfl:workload=\(context.workloadUUID.uuidString.lowercased()):workflow=\(id):attempt=\(workflow.attempt)",
            "--output=\(folder.path)/slurm-%j.out", "--chdir=\(folder.path)", "--no-requeue",
        ] + resources.arguments + extraArgs
        switch await client.submit(script: folder.appendingPathComponent("job.sh").path, arguments: arguments) {
        case .submitted(let jobID):
            return .launched(Launched(externalID: jobID, details: ["jobId": .string(jobID), "workDir": .string(folder.path)]))
        case .refused(let message):
            return .failed(WorkflowError("sbatch refused the job: \(message)"))
        case .unavailable(let message):
            return .deferred(message)
        }
    }

    /// One sbatch for a job array; task i runs the i-th workflow of the manifest.
    private func submitArray(_ workflows: [LaunchRequest], resources: SlurmResources, context: StageContext) async -> [UUID: SubmitOutcome] {
        let name = "wfl-array-\(UUID().uuidString.lowercased())"
        let arrays = root(context).workload.appendingPathComponent("arrays")
        let manifest = arrays.appendingPathComponent("\(name).tasks")
        func every(_ outcome: SubmitOutcome) -> [UUID: SubmitOutcome] {
            Dictionary(uniqueKeysWithValues: workflows.map { ($0.uuid, outcome) })
        }
        do {
            try FileManager.default.createDirectory(at: arrays, withIntermediateDirectories: true)
            let folders = workflows.map { folder(context, $0.uuid).path }
            try ProcessTools.writeAtomically(folders.joined(separator: "\n") + "\n", to: manifest)
            // Each workflow remembers its array before sbatch runs, for the lookup after a crash.
            for (index, workflow) in workflows.enumerated() {
                try ProcessTools.writeAtomically(JSONValue.object(["name": .string(name), "index": .int(Int64(index))]).description,
                                                 to: folder(context, workflow.uuid).appendingPathComponent("array.json"))
            }
            let cd = """
                dir=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" \(ProcessTools.shellQuote(manifest.path)))
                [ -n "$dir" ] || { echo "no task $SLURM_ARRAY_TASK_ID in \(manifest.path)" >&2; exit 121; }
                cd "$dir" || exit 120
                """
            try ProcessTools.writeAtomically(Self.wrapper(cd: cd), to: arrays.appendingPathComponent("\(name).sh"), executable: true)
        } catch {
            return every(.deferred("cannot write the array's files: \(error)"))
        }
        let arguments = [
            "--job-name=\(name)", "--comment=wfl:workload=\(context.workloadUUID.uuidString.lowercased()):array=\(name)",
            "--array=0-\(workflows.count - 1)", "--output=\(arrays.path)/\(name)_%a.out", "--chdir=\(arrays.path)", "--no-requeue",
        ] + resources.arguments + extraArgs
        switch await client.submit(script: arrays.appendingPathComponent("\(name).sh").path, arguments: arguments) {
        case .submitted(let jobID):
            var outcomes: [UUID: SubmitOutcome] = [:]
            for (index, workflow) in workflows.enumerated() {
                outcomes[workflow.uuid] = .launched(Launched(
                    externalID: "\(jobID)_\(index)", submission: name,
                    details: ["jobId": .string("\(jobID)_\(index)"), "workDir": .string(folder(context, workflow.uuid).path)]))
            }
            return outcomes
        case .refused(let message):
            return every(.failed(WorkflowError("sbatch refused the job array: \(message)")))
        case .unavailable(let message):
            return every(.deferred(message))
        }
    }

    /// The batch script: run command.sh with its output in the workflow's folder, then record
    /// the exit code through a rename, so a reader never sees half of it.
    static func wrapper(cd: String) -> String {
        """
        #!/bin/sh
        # Written by Workflow Launcher: runs command.sh and records its exit code in ./exit.
        \(cd)
        /bin/sh ./command.sh >stdout.log 2>stderr.log </dev/null
        rc=$?
        echo "$rc" >exit.tmp && mv -f exit.tmp exit
        exit "$rc"

        """
    }

    /// Job ids SLURM has for these workflows, found by job name (or by array name and index).
    private func lookup(_ uuids: [UUID], context: StageContext) async throws -> [UUID: (job: String, array: String?)] {
        var byName: [String: UUID] = [:]
        var byArray: [String: [Int: UUID]] = [:]
        for uuid in uuids {
            let record = folder(context, uuid).appendingPathComponent("array.json")
            if let data = FileManager.default.contents(atPath: record.path), let entry = try? JSONValue.parse(data),
               let name = entry["name"]?.stringValue, let index = entry["index"]?.intValue {
                byArray[name, default: [:]][Int(index)] = uuid
            } else {
                byName[uuid.uuidString.lowercased()] = uuid
            }
        }
        let names = Array(byName.keys) + Array(byArray.keys)
        var jobs = try await client.queue(names: names)
        if let accounted = try await client.accounting(names: names) { jobs += accounted }
        var found: [UUID: (job: String, array: String?)] = [:]
        for job in jobs {
            guard let name = job.name else { continue }
            if let uuid = byName[name] {
                found[uuid] = (job.id, nil)
            } else if let tasks = byArray[name], let separator = job.id.firstIndex(of: "_"),
                      let index = Int(job.id[job.id.index(after: separator)...]), let uuid = tasks[index] {
                found[uuid] = (job.id, name)
            }
        }
        return found
    }

    // MARK: Poll

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        let ids = workflows.compactMap(\.externalID)
        var jobs = try await client.queue(jobs: ids)
        let missing = ids.filter { jobs[$0] == nil }
        var accounting = false
        if !missing.isEmpty, let accounted = try await client.accounting(jobs: missing) {
            accounting = true
            jobs.merge(accounted) { queued, _ in queued }
        }
        let now = Date()
        let updates = workflows.compactMap { workflow in
            update(workflow, job: workflow.externalID.flatMap { jobs[$0] }, accounting: accounting, now: now, context: context)
        }
        return PollResult(updates: updates, nextPoll: now.addingTimeInterval(pollSeconds))
    }

    private func update(_ workflow: ActiveWorkflow, job: SlurmClient.Job?, accounting: Bool, now: Date,
                        context: StageContext) -> WorkflowUpdate? {
        let work = WorkFolder(folder(context, workflow.uuid))
        let exit = work.exitCode()
        guard let job else {
            if let exit { return finished(workflow, state: nil, exit: exit, work: work) }
            return missing(workflow, now: now, what: "SLURM has no record of job \(workflow.externalID ?? "?") (squeue\(accounting ? ", sacct" : "")) and it wrote no exit file")
        }
        if let status = SlurmState.activeStatus(job.state) {
            let wasMissing = workflow.details["missingSince"].map { !$0.isNull } ?? false
            guard workflow.status != .aborting, status != workflow.status || wasMissing else { return nil }
            return WorkflowUpdate(uuid: workflow.uuid, status: status,
                                  details: ["slurmState": .string(job.state), "missingSince": .null])
        }
        if job.state == "COMPLETED" && exit == nil {
            // The job ended well, but its exit file is not visible yet (shared file systems lag).
            return missing(workflow, now: now, what: "job \(job.id) COMPLETED but wrote no exit file")
        }
        return finished(workflow, state: job.state, exit: exit ?? job.exitCode, work: work)
    }

    /// Waits `lostAfter` seconds for something to turn up, then fails the workflow as lost.
    private func missing(_ workflow: ActiveWorkflow, now: Date, what: String) -> WorkflowUpdate? {
        guard let since = workflow.details["missingSince"]?.doubleValue else {
            return WorkflowUpdate(uuid: workflow.uuid, status: workflow.status,
                                  details: ["missingSince": .double(now.timeIntervalSince1970)])
        }
        guard now.timeIntervalSince1970 - since > lostAfter else { return nil }
        return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: ["slurmState": "LOST"],
                              error: .infrastructure("lost: \(what) for \(Int(lostAfter)) s"))
    }

    private func finished(_ workflow: ActiveWorkflow, state: String?, exit: Int?, work: WorkFolder) -> WorkflowUpdate {
        var details = work.details(exitCode: exit)
        details["missingSince"] = .null
        if let state { details["slurmState"] = .string(state) }
        if let jobID = workflow.externalID {
            details["slurmOutput"] = .string(work.path(jobID.contains("_") ? "../arrays" : "slurm-\(jobID).out"))
        }
        let resources = self.resources.overridden(by: (try? SlurmResources.read(ConfigReader(workflow.overrides, path: ""))) ?? SlurmResources())
        switch (state, exit) {
        case ("CANCELLED", _) where workflow.status == .aborting:
            return WorkflowUpdate(uuid: workflow.uuid, status: .aborted, details: details)
        case (nil, 0?), ("COMPLETED", 0?):
            switch work.outputs() {
            case .valid(let outputs):
                return WorkflowUpdate(uuid: workflow.uuid, status: .succeeded, outputs: outputs, details: details)
            case .invalid(let problem):
                return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: details, error: WorkflowError(problem))
            }
        default:
            let name = state ?? "FAILED"
            var message = "\(name): \(SlurmState.explanation(name))"
            if name == "TIMEOUT", let time = resources.time { message += " (time=\(time))" }
            if name == "OUT_OF_MEMORY", let memory = resources.memory { message += " (memory=\(memory))" }
            if let exit, name != "CANCELLED" { message += "; exit code \(exit)" }
            if let line = work.lastErrorLine { message += ": \(line)" }
            let kind: FailureKind = SlurmState.infrastructure.contains(name) || name == "CANCELLED" ? .infrastructure : .workflow
            return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: details, error: WorkflowError(message, kind: kind))
        }
    }

    // MARK: Abort

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        var jobs: [UUID: String] = [:]
        for workflow in workflows { if let id = workflow.externalID { jobs[workflow.uuid] = id } }
        let unknown = workflows.filter { $0.externalID == nil }.map(\.uuid)
        if !unknown.isEmpty {
            jobs.merge(try await lookup(unknown, context: context).mapValues(\.job)) { a, _ in a }
        }
        try await client.cancel(jobs: Array(jobs.values))
        return workflows.map { workflow in
            if let id = jobs[workflow.uuid] {
                return WorkflowUpdate(uuid: workflow.uuid, status: .aborting, externalID: id, details: ["abortRequested": true])
            }
            return WorkflowUpdate(uuid: workflow.uuid, status: .aborted)
        }
    }

    // MARK: Folders

    private func root(_ context: StageContext) -> WorkRoot {
        WorkRoot(workDir: workDir, defaultName: "slurm", context)
    }

    private func folder(_ context: StageContext, _ workflow: UUID) -> URL {
        root(context).folder(workflow)
    }
}
