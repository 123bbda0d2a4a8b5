import Foundation
import LauncherCore
import LauncherStageSupport
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
struct SlurmExecutor: Executor, ConfiguredStage {
    enum Program: Sendable {
        case command(CommandScript)
        case script(String)
    }

    struct Config: StageConfig {
        static let stageName = "SLURM"
        static let summary = "Runs each item as a SLURM batch job (or job-array task), tracked with batched squeue/sacct."

        var command: String?
        var script: String?
        var workDir: String?
        var resources = SlurmResources()
        var extraArgs: [String] = []
        var array: JobArraySize?
        var maxSubmitPerTick: Int?
        var maxActive: Int?
        var env: [String: String] = [:]
        var slurmConf: String?
        var lostAfterSeconds = 120.0
        var commandTimeoutSeconds = 60.0
        var pollSeconds = 5.0

        static let fields: [Field<Config>] =
            [
                Field(
                    "command", \.command, .command,
                    "Shell command; {{field}} is replaced by the item's value, shell-quoted. Give command or script."),
                Field(
                    "script", \.script, .path,
                    "An executable script to run instead of command; inputs arrive as environment variables and inputs.json."),
                Field(
                    "workDir", \.workDir, .path, "Shared folder for per-workflow scripts, logs and exit files (default $WFL_HOME/slurm)."),
            ] + SlurmResources.fields.embedded(in: \.resources) + [
                Field(
                    "extraArgs", \.extraArgs, .list(.matching("-.*", "is not an sbatch option such as \"--constraint=avx2\""), max: 100),
                    "More sbatch options, e.g. [\"--constraint=avx2\"]."),
                Field("array", \.array, "Submit items as job arrays of at most this many tasks (true: 1000)."),
                Field("maxSubmitPerTick", \.maxSubmitPerTick, .count(), "Most jobs submitted per update of the workload."),
                Field("maxActive", \.maxActive, .count(), "Most jobs of this workload queued or running at once."),
                Field("env", \.env, .environment, "Extra environment variables (name: value)."),
                Field("slurmConf", \.slurmConf, .path, "slurm.conf to use (SLURM_CONF); default: the launcher's environment."),
                Field(
                    "lostAfterSeconds", \.lostAfterSeconds, .seconds(),
                    "How long a job may be missing from squeue, sacct and its exit file before it is failed as lost."),
                Field(
                    "commandTimeoutSeconds", \.commandTimeoutSeconds, .seconds(max: 3600),
                    "Time limit for each sbatch/squeue/sacct/scancel call."),
                Field("pollSeconds", \.pollSeconds, .seconds(allowZero: true, max: 86_400), "Seconds between status queries."),
            ]

        static let reservedArguments = [
            "--job-name", "-J", "--output", "-o", "--error", "-e", "--chdir", "-D", "--array", "-a",
            "--parsable", "--wrap", "--comment",
        ]

        func finish(at path: FieldPath, context: ConfigContext) throws {
            switch (command, script) {
            case (let command?, nil):
                try CommandScript.validate(template: command, at: path.key("command"))
            case (nil, let script?):
                if context.origin == .request, !FileManager.default.isExecutableFile(atPath: script) {
                    throw path.key("script").invalid("\(script) is not an executable file")
                }
            case (nil, nil):
                throw path.key("command").invalid("required: give command (a shell command) or script (a file to run)")
            case (.some, .some):
                throw path.key("script").invalid("give command or script, not both")
            }
            for (index, argument) in extraArgs.enumerated() {
                let name = String(argument.split(separator: "=").first ?? "")
                if Self.reservedArguments.contains(name) {
                    throw path.key("extraArgs").index(index).invalid("\(name) is set by the launcher and cannot be given here")
                }
            }
            if let slurmConf, context.origin == .request, !FileManager.default.fileExists(atPath: slurmConf) {
                throw path.key("slurmConf").invalid("\(slurmConf) does not exist")
            }
        }

        var program: Program {
            if let command { return .command(CommandScript(template: command, environment: env)) }
            return .script(script ?? "")
        }
    }

    static let type = StageType<any Executor>(Config.self) { SlurmExecutor(config: $0) }

    let config: Config

    var maxActive: Int? { config.maxActive }
    var maxSubmitPerTick: Int? { config.maxSubmitPerTick }
    var program: Program { config.program }
    var resources: SlurmResources { config.resources }

    var client: SlurmClient { SlurmClient(slurmConf: config.slurmConf, timeout: .seconds(config.commandTimeoutSeconds)) }

    func validateRemotely(_ context: StageContext) async throws {
        try root(context).check()
    }

    func checkInputs(_ inputs: JSONObject) -> String? {
        guard case .command(let script) = program else { return nil }
        return script.check(inputs, field: "executor.command")
    }

    func validateOverrides(_ overrides: JSONObject, at path: FieldPath) throws -> JSONObject {
        try SlurmResources.decode(overrides, at: path, context: .request, what: "the SLURM executor's retry overrides").storedObject
    }

    // MARK: Submit

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        var outcomes: [UUID: SubmitOutcome] = [:]
        // A workflow an earlier attempt may have submitted is looked up by its job name first.
        let uncertain = workflows.filter(\.mayExist)
        if !uncertain.isEmpty {
            do {
                for (uuid, found) in try await lookup(uncertain.map(\.uuid), context: context) {
                    outcomes[uuid] = .launched(
                        Launched(
                            externalID: found.job, submission: found.array.map(Self.arraySubmission),
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
            let resources = self.resources.overridden(by: SlurmResources.stored(overrides.objectValue ?? [:]))
            if let arraySize = config.array?.tasks {
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
        let results = await forEach(workflows, limit: 4) { workflow in
            await self.submitOne(workflow, resources: resources, context: context)
        }
        return Dictionary(results.map { ($0.0.uuid, $0.1) }, uniquingKeysWith: { a, _ in a })
    }

    private func submitOne(_ workflow: LaunchRequest, resources: SlurmResources, context: StageContext) async -> SubmitOutcome {
        let folder = self.folder(context, workflow.uuid)
        let id = workflow.uuid.uuidString.lowercased()
        do {
            try ProcessTools.writeAtomically(
                Self.wrapper(cd: "cd \(ProcessTools.shellQuote(folder.path)) || exit 120"),
                to: folder.appendingPathComponent("job.sh"), executable: true)
        } catch {
            return .deferred("cannot write job.sh: \(error)")
        }
        let arguments =
            [
                "--job-name=\(id)",
                "--comment=wfl:workload=\(context.workloadUUID.uuidString.lowercased()):workflow=\(id):attempt=\(workflow.attempt)",
                "--output=\(folder.path)/slurm-%j.out", "--chdir=\(folder.path)", "--no-requeue",
            ] + resources.arguments + config.extraArgs
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
    private func submitArray(_ workflows: [LaunchRequest], resources: SlurmResources, context: StageContext) async -> [UUID: SubmitOutcome]
    {
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
                try ProcessTools.writeAtomically(
                    JSONValue.object(["name": .string(name), "index": .int(Int64(index))]).description,
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
        let arguments =
            [
                "--job-name=\(name)", "--comment=wfl:workload=\(context.workloadUUID.uuidString.lowercased()):array=\(name)",
                "--array=0-\(workflows.count - 1)", "--output=\(arrays.path)/\(name)_%a.out", "--chdir=\(arrays.path)", "--no-requeue",
            ] + resources.arguments + config.extraArgs
        switch await client.submit(script: arrays.appendingPathComponent("\(name).sh").path, arguments: arguments) {
        case .submitted(let jobID):
            var outcomes: [UUID: SubmitOutcome] = [:]
            for (index, workflow) in workflows.enumerated() {
                outcomes[workflow.uuid] = .launched(
                    Launched(
                        externalID: "\(jobID)_\(index)", submission: Self.arraySubmission(name),
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

    /// An array's submission id: the UUID in its job name (`wfl-array-<uuid>`), as every
    /// submission id the launcher makes is a UUID (WFL's `submission` filter takes one).
    static func arraySubmission(_ name: String) -> String {
        name.hasPrefix("wfl-array-") ? String(name.dropFirst("wfl-array-".count)) : name
    }

    /// Job ids SLURM has for these workflows, found by job name (or by array name and index).
    private func lookup(_ uuids: [UUID], context: StageContext) async throws -> [UUID: (job: String, array: String?)] {
        var byName: [String: UUID] = [:]
        var byArray: [String: [Int: UUID]] = [:]
        for uuid in uuids {
            let record = folder(context, uuid).appendingPathComponent("array.json")
            if let data = FileManager.default.contents(atPath: record.path), let entry = try? JSONValue.parse(data),
                let name = entry["name"]?.stringValue, let index = entry["index"]?.intValue
            {
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
                let index = Int(job.id[job.id.index(after: separator)...]), let uuid = tasks[index]
            {
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
        return PollResult(updates: updates, nextPoll: now.addingTimeInterval(config.pollSeconds))
    }

    private func update(
        _ workflow: ActiveWorkflow, job: SlurmClient.Job?, accounting: Bool, now: Date,
        context: StageContext
    ) -> WorkflowUpdate? {
        let work = WorkFolder(folder(context, workflow.uuid))
        let exit = work.exitCode()
        guard let job else {
            if let exit { return finished(workflow, state: nil, exit: exit, work: work) }
            return missing(
                workflow, now: now,
                what:
                    "SLURM has no record of job \(workflow.externalID ?? "?") (squeue\(accounting ? ", sacct" : "")) and it wrote no exit file"
            )
        }
        if let status = SlurmState.activeStatus(job.state) {
            let wasMissing = workflow.details["missingSince"].map { !$0.isNull } ?? false
            guard workflow.status != .aborting, status != workflow.status || wasMissing else { return nil }
            return WorkflowUpdate(
                uuid: workflow.uuid, status: status,
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
            return WorkflowUpdate(
                uuid: workflow.uuid, status: workflow.status,
                details: ["missingSince": .double(now.timeIntervalSince1970)])
        }
        guard now.timeIntervalSince1970 - since > config.lostAfterSeconds else { return nil }
        return WorkflowUpdate(
            uuid: workflow.uuid, status: .failed, details: ["slurmState": "LOST"],
            error: .infrastructure("lost: \(what) for \(Constraint.numberText(config.lostAfterSeconds)) s"))
    }

    private func finished(_ workflow: ActiveWorkflow, state: String?, exit: Int?, work: WorkFolder) -> WorkflowUpdate {
        var details = work.details(exitCode: exit)
        details["missingSince"] = .null
        if let state { details["slurmState"] = .string(state) }
        if let jobID = workflow.externalID {
            details["slurmOutput"] = .string(work.path(jobID.contains("_") ? "../arrays" : "slurm-\(jobID).out"))
        }
        let resources = self.resources.overridden(by: SlurmResources.stored(workflow.overrides))
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
            if name == "TIMEOUT", let time = resources.time { message += " (time=\(time.text))" }
            if name == "OUT_OF_MEMORY", let memory = resources.memory { message += " (memory=\(memory.text))" }
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

    func logLocation(of workflow: ActiveWorkflow, stream: LogStream, context: StageContext) async throws -> WorkflowLogLocation {
        root(context).log(workflow.uuid, stream)
    }

    private func root(_ context: StageContext) -> WorkRoot {
        WorkRoot(workDir: config.workDir, defaultName: "slurm", context)
    }

    private func folder(_ context: StageContext, _ workflow: UUID) -> URL {
        root(context).folder(workflow)
    }
}
