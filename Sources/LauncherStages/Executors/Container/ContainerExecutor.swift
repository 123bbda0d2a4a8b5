import Foundation
import LauncherCore
import LauncherStageSupport
import LauncherSystem

/// `{"name": "Container", "image": "…", "command": "…{{field}}…", …}`
///
/// Runs each item's command in a local OCI container (podman, or docker):
///
/// - **Run** detached as `wfl-<workflow uuid>` with labels for the workload and workflow,
///   `--init` (so a stop is prompt), the resource options, and the workflow's folder mounted
///   at the same path. A wrapper inside writes the exit code to `exit` through a rename.
/// - **Poll** with one `ps` by the workload's label per tick, and one `inspect` for the
///   containers that exited. A finished container's result is written to `result.json` in its
///   folder, then the container is removed (one `rm` for all): if recording it in the database
///   fails, the next poll reads the result from there. `--rm` is not used: podman 4.3's docker
///   CLI then reports every exit as 0.
/// - **Timeout** is enforced by the launcher: it stops the container and fails it as "timeout".
/// - **After a crash**, a Pending workflow whose container exists is not started again.
struct ContainerExecutor: Executor, ConfiguredStage {
    enum Runtime: String, ConfigEnum { case podman, docker }
    enum PullPolicy: String, ConfigEnum { case missing, never }

    struct Config: StageConfig {
        static let stageName = "Container"
        static let summary = "Runs each item's command in a local OCI container (podman, or docker)."

        var image = ""
        var command = ""
        var env: [String: String] = [:]
        var mounts: [Mount] = []
        var workDir: String?
        var cpus: Double?
        var memory: ContainerMemory?
        var timeout: Double?
        var network = "none"
        var user: String?
        var maxParallel = ProcessInfo.processInfo.activeProcessorCount
        var runtime: Runtime?
        var pull = PullPolicy.missing
        var commandTimeoutSeconds = 60.0

        static let fields: [Field<Config>] = [
            Field(
                "image", \.image, .matching("[A-Za-z0-9][A-Za-z0-9._/:@-]*", "is not an image reference"), required: true,
                "The image, e.g. \"localhost/tools:1.2\"."),
            Field(
                "command", \.command, .command, required: true,
                "Shell command (run with /bin/sh in the image); {{field}} is replaced by the item's value, shell-quoted."),
            Field("env", \.env, .environment, "Extra environment variables (name: value)."),
            Field("mounts", \.mounts, .list(max: 100), "Bind mounts \"host:container\" or \"host:container:ro\"."),
            Field(
                "workDir", \.workDir, .path,
                "Host folder for per-workflow folders, mounted into each container (default $WFL_HOME/containers)."),
            Field("cpus", \.cpus, .above(0, max: 1024), "CPUs per container (--cpus)."),
            Field("memory", \.memory, "Memory per container (--memory), e.g. \"512m\", \"2g\"."),
            Field("timeout", \.timeout, .seconds(), "Seconds a container may run before it is stopped and failed."),
            Field("network", \.network, .matching("[A-Za-z0-9][A-Za-z0-9_.-]*", "is not a network name", max: 256), "Network (--network)."),
            Field(
                "user", \.user, .matching("[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?", "is not a user or user:group", max: 256),
                "User (and group) to run as (--user), e.g. \"1000:1000\"."),
            Field("maxParallel", \.maxParallel, .count(max: 10_000), "Most containers running at once (default: the number of CPUs)."),
            Field("runtime", \.runtime, "podman or docker (default: podman if it works, else docker)."),
            Field("pull", \.pull, "Image pull policy: missing or never."),
            Field("commandTimeoutSeconds", \.commandTimeoutSeconds, .seconds(max: 3600), "Time limit for each runtime command."),
        ]

        func finish(at path: FieldPath, context: ConfigContext) throws {
            try CommandScript.validate(template: command, at: path.key("command"))
            guard context.origin == .request else { return }
            for (index, mount) in mounts.enumerated() where !FileManager.default.fileExists(atPath: mount.host) {
                throw path.key("mounts").index(index).invalid("\(mount.host) does not exist on this machine")
            }
        }
    }

    /// What a retry may change for its new attempts.
    struct Overrides: ConfigStruct {
        var memory: ContainerMemory?
        var cpus: Double?
        var timeout: Double?
        static let fields: [Field<Overrides>] = [
            Field("memory", \.memory, "Memory per container for the new attempts."),
            Field("cpus", \.cpus, .above(0, max: 1024), "CPUs per container for the new attempts."),
            Field("timeout", \.timeout, .seconds(), "Seconds the new attempts may run."),
        ]

        static func stored(_ overrides: JSONObject) -> Overrides {
            (try? decode(overrides, at: "overrides", context: .stored, what: "the Container overrides")) ?? Overrides()
        }
    }

    /// `host:container[:ro|rw]`, with an absolute host path inside the allowed roots.
    struct Mount: ConfigValue {
        let host: String
        let text: String

        static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Mount {
            guard case .string(let text) = json else {
                throw path.invalid("expected \"host:container\" or \"host:container:ro\", got \(json.typeName)")
            }
            try Constraint.text(max: 4096).checkText(text, at: path)
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), parts[0].hasPrefix("/"), parts[1].hasPrefix("/"),
                parts.count == 2 || ["ro", "rw"].contains(parts[2])
            else {
                throw path.invalid("\"\(Constraint.excerpt(text))\" is not \"/host/path:/container/path\" (optionally \":ro\")")
            }
            let host = try context.files.resolve(parts[0], at: path)
            return Mount(host: host, text: ([host] + parts.dropFirst()).joined(separator: ":"))
        }

        var configJSON: JSONValue { .string(text) }
        static var typeSchema: JSONObject { ["type": "string", "pattern": "^/[^:]*:/[^:]*(:(ro|rw))?$"] }
        static var typeName: String { "string" }
    }

    static let type = StageType<any Executor>(Config.self) { ContainerExecutor(config: $0) }

    let config: Config
    var script: CommandScript { CommandScript(template: config.command, environment: config.env) }

    var maxActive: Int? { config.maxParallel }

    private var runtimeTimeout: Duration { .seconds(config.commandTimeoutSeconds) }

    private func containerRuntime() async throws -> ContainerRuntime {
        do {
            return try await ContainerRuntime.detect(config.runtime?.rawValue, timeout: runtimeTimeout)
        } catch let error as LauncherError {
            throw ContainerRuntime.Unavailable(description: error.message)
        }
    }

    func validateRemotely(_ context: StageContext) async throws {
        _ = try await ContainerRuntime.detect(config.runtime?.rawValue, timeout: runtimeTimeout)
        try root(context).check()
    }

    func checkInputs(_ inputs: JSONObject) -> String? {
        script.check(inputs, field: "executor.command")
    }

    func validateOverrides(_ overrides: JSONObject, at path: FieldPath) throws -> JSONObject {
        try Overrides.decode(overrides, at: path, context: .request, what: "the Container executor's retry overrides").storedObject
    }

    // MARK: Run

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        let runtime = try await containerRuntime()
        let workload = context.workloadUUID.uuidString.lowercased()
        // One listing tells which workflows an earlier attempt already started.
        let existing =
            workflows.contains(where: \.mayExist)
            ? Dictionary(try await runtime.list(workload: workload).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            : [:]
        var outcomes: [UUID: SubmitOutcome] = [:]
        var toRun: [LaunchRequest] = []
        for workflow in workflows {
            let folder = self.folder(context, workflow.uuid)
            if workflow.mayExist, let container = existing[Self.name(workflow.uuid)] {
                outcomes[workflow.uuid] = .launched(Launched(externalID: container.name, details: ["workDir": .string(folder.path)]))
            } else if let problem = checkInputs(workflow.inputs) {
                outcomes[workflow.uuid] = .failed(WorkflowError(problem))
            } else {
                toRun.append(workflow)
            }
        }
        // A few starts at once: each costs the runtime a fraction of a second.
        for (workflow, outcome) in await forEach(
            toRun, limit: 4, { workflow in await self.start(workflow, runtime: runtime, context: context) })
        {
            outcomes[workflow.uuid] = outcome
        }
        return outcomes
    }

    private func start(_ workflow: LaunchRequest, runtime: ContainerRuntime, context: StageContext) async -> SubmitOutcome {
        let folder = self.folder(context, workflow.uuid)
        do {
            try script.write(workflow: workflow, workload: context.workloadUUID, folder: folder)
            for stale in ["exit", "exit.tmp", "timed_out", "aborted", "result.json"] {
                try? FileManager.default.removeItem(at: folder.appendingPathComponent(stale))
            }
        } catch {
            return .deferred("cannot write the container's files: \(error)")
        }
        let name = Self.name(workflow.uuid)
        var arguments = [
            "run", "--detach", "--init", "--name", name,
            "--label", "wfl.workload=\(context.workloadUUID.uuidString.lowercased())",
            "--label", "wfl.workflow=\(workflow.uuid.uuidString.lowercased())", "--label", "wfl.attempt=\(workflow.attempt)",
            "--network", config.network, "--pull", config.pull.rawValue,
            "--volume", "\(folder.path):\(folder.path)", "--workdir", folder.path, "--entrypoint", "/bin/sh",
        ]
        let overrides = Overrides.stored(workflow.overrides)
        for mount in config.mounts { arguments += ["--volume", mount.text] }
        if let cpus = overrides.cpus ?? config.cpus { arguments += ["--cpus", JSONValue.double(cpus).description] }
        if let memory = overrides.memory ?? config.memory { arguments += ["--memory", memory.text] }
        if let user = config.user { arguments += ["--user", user] }
        arguments += [config.image, "-c", Self.wrapper]
        let result: Command.Result
        do {
            // In the workflow's folder, not the launcher's: conmon writes an `oom` file into its
            // working folder when the kernel kills the container for memory.
            result = try await runtime.run(arguments, in: folder.path)
        } catch {
            return .deferred("\(error)")
        }
        if result.status == 0 {
            return .launched(Launched(externalID: name, details: ["workDir": .string(folder.path), "runtime": .string(runtime.program)]))
        }
        let message = result.message
        if message.contains("is already in use") {
            // Started by an earlier attempt whose outcome was not recorded: it runs already.
            return .launched(Launched(externalID: name, details: ["workDir": .string(folder.path), "runtime": .string(runtime.program)]))
        }
        // 125: the runtime refused (missing image, bad option); 126/127: the entrypoint cannot run.
        await runtime.remove([name])
        return .failed(
            .infrastructure("\(runtime.program) could not start the container (exit \(result.status)): \(Self.lastLine(message))"))
    }

    /// Runs command.sh (in the mounted folder) and records its exit code through a rename.
    static let wrapper = """
        /bin/sh ./command.sh >stdout.log 2>stderr.log </dev/null; rc=$?; echo "$rc" >exit.tmp && mv -f exit.tmp exit; exit "$rc"
        """

    static func name(_ workflow: UUID) -> String { "wfl-\(workflow.uuidString.lowercased())" }

    static func lastLine(_ text: String) -> String {
        text.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }).map(String.init) ?? text
    }

    // MARK: Poll

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        let runtime = try await containerRuntime()
        let containers = try await runtime.list(workload: context.workloadUUID.uuidString.lowercased())
        let byName = Dictionary(containers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

        let exited = workflows.compactMap { byName[Self.name($0.uuid)] }.filter { $0.state == "exited" || $0.state == "stopped" }
        let exits = try await runtime.exits(exited.map(\.id))
        let now = Date()
        var updates: [WorkflowUpdate] = []
        var overdue: [String] = []
        var nextDeadline: Date?
        for workflow in workflows {
            let work = WorkFolder(folder(context, workflow.uuid))
            let name = Self.name(workflow.uuid)
            guard let container = byName[name] else {
                // Removed once its result was written; or removed by hand: the exit file may still say.
                if let recorded = Self.readResult(work, workflow.uuid) {
                    updates.append(recorded)
                } else if let code = work.exitCode() {
                    updates.append(finished(workflow, code: code, oomKilled: false, runtimeError: "", work: work))
                } else if now.timeIntervalSince(workflow.submitted ?? now) > 60 {
                    updates.append(
                        WorkflowUpdate(
                            uuid: workflow.uuid, status: .failed,
                            error: .infrastructure("the container \(name) disappeared without an exit code")))
                }
                continue
            }
            switch container.state {
            case "created", "configured", "initialized":
                if workflow.status != .queued && workflow.status != .aborting {
                    updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .queued))
                }
            case "running", "paused", "stopping":
                let limit = Overrides.stored(workflow.overrides).timeout ?? config.timeout
                if let limit, let started = workflow.submitted {
                    let deadline = started.addingTimeInterval(limit)
                    if deadline <= now {
                        FileManager.default.createFile(atPath: work.path("timed_out"), contents: nil)
                        overdue.append(name)
                    } else {
                        nextDeadline = min(nextDeadline ?? deadline, deadline)
                    }
                }
                if workflow.status != .running && workflow.status != .aborting {
                    updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .running, externalID: container.id))
                }
            default:
                guard let exit = exits[container.id] else { continue }  // inspected nothing: ask again
                updates.append(finished(workflow, code: exit.code, oomKilled: exit.oomKilled, runtimeError: exit.error, work: work))
            }
        }
        // A launcher-enforced time limit: stop them all in one call; the next poll fails them.
        try await runtime.stop(overdue)
        // Finished: the result goes to the folder first, then the containers go, in one call.
        var done: [String] = []
        for update in updates where update.status.isFinal {
            if (try? Self.writeResult(update, WorkFolder(folder(context, update.uuid)))) != nil,
                let container = byName[Self.name(update.uuid)]
            {
                done.append(container.id)
            }
        }
        await runtime.remove(done)
        let soon = now.addingTimeInterval(overdue.isEmpty ? 2 : 0.5)
        return PollResult(updates: updates, nextPoll: min(soon, nextDeadline ?? soon))
    }

    private func finished(_ workflow: ActiveWorkflow, code: Int, oomKilled: Bool, runtimeError: String, work: WorkFolder) -> WorkflowUpdate
    {
        var details = work.details(exitCode: code)
        details["container"] = .string(Self.name(workflow.uuid))
        if workflow.status == .aborting || FileManager.default.fileExists(atPath: work.path("aborted")) {
            return WorkflowUpdate(uuid: workflow.uuid, status: .aborted, details: details)
        }
        if FileManager.default.fileExists(atPath: work.path("timed_out")) {
            let limit = Overrides.stored(workflow.overrides).timeout ?? config.timeout ?? 0
            return WorkflowUpdate(
                uuid: workflow.uuid, status: .failed, details: details,
                error: WorkflowError("timeout: ran longer than \(JSONValue.double(limit))s and was stopped"))
        }
        // The wrapper's exit file is the command's own code; the container's may be the runtime's.
        let command = work.exitCode() ?? code
        switch command {
        case 0:
            switch work.outputs() {
            case .valid(let outputs):
                return WorkflowUpdate(uuid: workflow.uuid, status: .succeeded, outputs: outputs, details: details)
            case .invalid(let problem):
                return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: details, error: WorkflowError(problem))
            }
        case 137:
            // The runtime's OOMKilled flag is unreliable on cgroup v2; conmon's marker is not.
            if oomKilled || FileManager.default.fileExists(atPath: work.path("oom")) {
                let limit = (Overrides.stored(workflow.overrides).memory ?? config.memory).map { " (memory=\($0.text))" } ?? ""
                return WorkflowUpdate(
                    uuid: workflow.uuid, status: .failed, details: details,
                    error: WorkflowError("out of memory: killed at the container's memory limit\(limit); exit code 137"))
            }
            return WorkflowUpdate(
                uuid: workflow.uuid, status: .failed, details: details,
                error: WorkflowError("killed (out of memory or signal); exit code 137"))
        case 125...127 where work.exitCode() == nil:
            let reason = runtimeError.isEmpty ? (work.lastErrorLine ?? "the runtime failed to run the command") : runtimeError
            return WorkflowUpdate(
                uuid: workflow.uuid, status: .failed, details: details,
                error: .infrastructure("container runtime error (exit \(code)): \(reason)"))
        default:
            let line = work.lastErrorLine.map { ": \($0)" } ?? ""
            return WorkflowUpdate(
                uuid: workflow.uuid, status: .failed, details: details,
                error: WorkflowError("command exited with code \(command)\(line)"))
        }
    }

    /// `result.json`: a finished workflow's update, kept so the container can be removed at once.
    static func writeResult(_ update: WorkflowUpdate, _ work: WorkFolder) throws {
        let document: JSONValue = .object([
            "status": .string(update.status.rawValue), "error": update.error?.json ?? .null,
            "outputs": update.outputs.map(JSONValue.object) ?? .null, "details": .object(update.details),
        ])
        try ProcessTools.writeAtomically(document.description, to: work.folder.appendingPathComponent("result.json"))
    }

    static func readResult(_ work: WorkFolder, _ uuid: UUID) -> WorkflowUpdate? {
        guard let data = FileManager.default.contents(atPath: work.path("result.json")), let document = try? JSONValue.parse(data),
            let status = document["status"]?.stringValue.flatMap(WorkflowStatus.init(rawValue:)), status.isFinal
        else { return nil }
        return WorkflowUpdate(
            uuid: uuid, status: status, outputs: document["outputs"]?.objectValue,
            details: document["details"]?.objectValue ?? [:], error: WorkflowError(json: document["error"]))
    }

    // MARK: Abort

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        let runtime = try await containerRuntime()
        let existing = Set(try await runtime.list(workload: context.workloadUUID.uuidString.lowercased()).map(\.name))
        for workflow in workflows {
            let folder = self.folder(context, workflow.uuid)
            if FileManager.default.fileExists(atPath: folder.path) {
                FileManager.default.createFile(atPath: folder.appendingPathComponent("aborted").path, contents: nil)
            }
        }
        let running = workflows.map { Self.name($0.uuid) }.filter(existing.contains)
        try await runtime.stop(running, grace: 5)
        let updates = workflows.map { workflow in
            WorkflowUpdate(uuid: workflow.uuid, status: .aborted, details: ["container": .string(Self.name(workflow.uuid))])
        }
        for update in updates { try? Self.writeResult(update, WorkFolder(folder(context, update.uuid))) }
        await runtime.remove(running)
        return updates
    }

    // MARK: Folders

    func logLocation(of workflow: ActiveWorkflow, stream: LogStream, context: StageContext) async throws -> WorkflowLogLocation {
        root(context).log(workflow.uuid, stream)
    }

    private func root(_ context: StageContext) -> WorkRoot {
        WorkRoot(workDir: config.workDir, defaultName: "containers", context)
    }

    private func folder(_ context: StageContext, _ workflow: UUID) -> URL {
        root(context).folder(workflow)
    }
}
