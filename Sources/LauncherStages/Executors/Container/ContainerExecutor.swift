import Foundation
import LauncherCore
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
struct ContainerExecutor: Executor {
    let image: String
    let script: CommandScript
    let mounts: [String]
    let workDir: String?
    let cpus: Double?
    let memory: String?
    let timeout: Double?
    let network: String
    let user: String?
    let maxParallel: Int
    let runtime: String?
    let pull: String
    let commandTimeout: Double

    static let type = StageType<any Executor>(
        name: "Container",
        summary: "Runs each item's command in a local OCI container (podman, or docker).",
        fields: [
            ConfigField("image", "string", required: true, "The image, e.g. \"localhost/tools:1.2\"."),
            ConfigField("command", "string", required: true,
                        "Shell command (run with /bin/sh in the image); {{field}} is replaced by the item's value, shell-quoted."),
            ConfigField("env", "object", "Extra environment variables (name: value)."),
            ConfigField("mounts", "array of strings", "Bind mounts \"host:container\" or \"host:container:ro\"."),
            ConfigField("workDir", "string", "Host folder for per-workflow folders, mounted into each container (default $WFL_HOME/containers)."),
            ConfigField("cpus", "number", "CPUs per container (--cpus)."),
            ConfigField("memory", "string", "Memory per container (--memory), e.g. \"512m\", \"2g\"."),
            ConfigField("timeout", "number", "Seconds a container may run before it is stopped and failed."),
            ConfigField("network", "string", "Network (--network); default none."),
            ConfigField("user", "string", "User (and group) to run as (--user), e.g. \"1000:1000\"."),
            ConfigField("maxParallel", "integer", "Most containers running at once (default: the number of CPUs)."),
            ConfigField("runtime", "string", "podman or docker (default: podman if it works, else docker)."),
            ConfigField("pull", "string", "Image pull policy: missing (default) or never."),
            ConfigField("commandTimeoutSeconds", "number", "Time limit for each runtime command (default 60)."),
        ]
    ) { reader in
        let image = try reader.requiredString("image")
        guard image.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9._\/:@-]*/) != nil else {
            throw LauncherError.invalid(reader.path("image"), "\"\(image)\" is not an image reference")
        }
        let command = try reader.requiredString("command")
        let env = try reader.stringMap("env") ?? [:]
        try CommandScript.validate(template: command, field: reader.path("command"), environment: env, environmentField: reader.path("env"))
        let mounts = try (reader.array("mounts") ?? []).enumerated().map { index, value in
            try mount(value, field: "\(reader.path("mounts"))[\(index)]", origin: reader.origin)
        }
        var memory: String?
        if let text = try reader.value(asText: "memory") {
            guard text.wholeMatch(of: /[1-9][0-9]*[bkmgBKMG]?/) != nil else {
                throw LauncherError.invalid(reader.path("memory"), "\"\(text)\" is not a memory size; use e.g. \"512m\" or \"2g\"")
            }
            memory = text.lowercased()
        }
        let network = try reader.string("network") ?? "none"
        guard network.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9_.-]*/) != nil else {
            throw LauncherError.invalid(reader.path("network"), "\"\(network)\" is not a network name")
        }
        let user = try reader.string("user")
        if let user, user.wholeMatch(of: /[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?/) == nil {
            throw LauncherError.invalid(reader.path("user"), "\"\(user)\" is not a user or user:group")
        }
        let runtime = try reader.string("runtime")
        if let runtime, !["podman", "docker"].contains(runtime) {
            throw LauncherError.invalid(reader.path("runtime"), "\"\(runtime)\" is not a known runtime; use podman or docker")
        }
        let pull = try reader.string("pull") ?? "missing"
        guard ["missing", "never"].contains(pull) else {
            throw LauncherError.invalid(reader.path("pull"), "\"\(pull)\" is not a pull policy; use missing or never")
        }
        var workDir = try reader.string("workDir")
        if let dir = workDir, reader.origin == .request { workDir = SlurmExecutor.absolute(dir, .request) }
        return ContainerExecutor(
            image: image, script: CommandScript(template: command, environment: env), mounts: mounts, workDir: workDir,
            cpus: try reader.number("cpus", min: 0, exclusiveMin: true), memory: memory,
            timeout: try reader.number("timeout", min: 0, exclusiveMin: true), network: network, user: user,
            maxParallel: try reader.int("maxParallel", min: 1, max: 10_000) ?? ProcessInfo.processInfo.activeProcessorCount,
            runtime: runtime, pull: pull,
            commandTimeout: try reader.number("commandTimeoutSeconds", min: 0, exclusiveMin: true) ?? 60)
    }

    /// `host:container[:ro|rw]`, with an absolute host path that exists.
    static func mount(_ value: JSONValue, field: String, origin: ConfigOrigin) throws -> String {
        guard let text = value.stringValue else {
            throw LauncherError.invalid(field, "expected \"host:container\" or \"host:container:ro\", got \(value.typeName)")
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts[0].hasPrefix("/"), parts[1].hasPrefix("/"),
              parts.count == 2 || ["ro", "rw"].contains(parts[2]) else {
            throw LauncherError.invalid(field, "\"\(text)\" is not \"/host/path:/container/path\" (optionally \":ro\")")
        }
        if origin == .request && !FileManager.default.fileExists(atPath: parts[0]) {
            throw LauncherError.invalid(field, "\(parts[0]) does not exist on this machine")
        }
        return text
    }

    var config: JSONObject {
        var config: JSONObject = ["name": "Container", "image": .string(image), "command": .string(script.template),
                                  "network": .string(network), "maxParallel": .int(Int64(maxParallel)), "pull": .string(pull)]
        if !script.environment.isEmpty { config["env"] = .object(script.environment.mapValues(JSONValue.string)) }
        if !mounts.isEmpty { config["mounts"] = .array(mounts.map(JSONValue.string)) }
        if let workDir { config["workDir"] = .string(workDir) }
        if let cpus { config["cpus"] = .double(cpus) }
        if let memory { config["memory"] = .string(memory) }
        if let timeout { config["timeout"] = .double(timeout) }
        if let user { config["user"] = .string(user) }
        if let runtime { config["runtime"] = .string(runtime) }
        if commandTimeout != 60 { config["commandTimeoutSeconds"] = .double(commandTimeout) }
        return config
    }

    var maxActive: Int? { maxParallel }

    private var runtimeTimeout: Duration { .milliseconds(Int(commandTimeout * 1000)) }

    private func containerRuntime() async throws -> ContainerRuntime {
        do {
            return try await ContainerRuntime.detect(runtime, timeout: runtimeTimeout)
        } catch let error as LauncherError {
            throw ContainerRuntime.Unavailable(description: error.message)
        }
    }

    func validateRemotely(_ context: StageContext) async throws {
        _ = try await ContainerRuntime.detect(runtime, timeout: runtimeTimeout)
        try root(context).create()
    }

    func checkInputs(_ inputs: JSONObject) -> String? {
        script.check(inputs, field: "executor.command")
    }

    func validateOverrides(_ reader: ConfigReader) throws -> JSONObject {
        try reader.rejectUnknown(allowed: ["memory", "cpus", "timeout"], stageDescription: "the Container executor's retry overrides")
        var overrides: JSONObject = [:]
        if let memory = try reader.value(asText: "memory") {
            guard memory.wholeMatch(of: /[1-9][0-9]*[bkmgBKMG]?/) != nil else {
                throw LauncherError.invalid(reader.path("memory"), "\"\(memory)\" is not a memory size; use e.g. \"512m\" or \"2g\"")
            }
            overrides["memory"] = .string(memory.lowercased())
        }
        if let cpus = try reader.number("cpus", min: 0, exclusiveMin: true) { overrides["cpus"] = .double(cpus) }
        if let timeout = try reader.number("timeout", min: 0, exclusiveMin: true) { overrides["timeout"] = .double(timeout) }
        return overrides
    }

    // MARK: Run

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        let runtime = try await containerRuntime()
        let workload = context.workloadUUID.uuidString.lowercased()
        // One listing tells which workflows an earlier attempt already started.
        let existing = workflows.contains(where: \.mayExist)
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
        for (workflow, outcome) in await forEach(toRun, limit: 4, { workflow in await self.start(workflow, runtime: runtime, context: context) }) {
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
            "--network", network, "--pull", pull,
            "--volume", "\(folder.path):\(folder.path)", "--workdir", folder.path, "--entrypoint", "/bin/sh",
        ]
        for mount in mounts { arguments += ["--volume", mount] }
        if let cpus = workflow.overrides["cpus"]?.doubleValue ?? cpus { arguments += ["--cpus", JSONValue.double(cpus).description] }
        if let memory = workflow.overrides["memory"]?.stringValue ?? memory { arguments += ["--memory", memory] }
        if let user { arguments += ["--user", user] }
        arguments += [image, "-c", Self.wrapper]
        let result: Subprocess.Result
        do {
            result = try await runtime.run(arguments)
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
        return .failed(.infrastructure("\(runtime.program) could not start the container (exit \(result.status)): \(Self.lastLine(message))"))
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
                    updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .failed,
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
                let limit = workflow.overrides["timeout"]?.doubleValue ?? timeout
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
            if (try? Self.writeResult(update, WorkFolder(folder(context, update.uuid)))) != nil, let container = byName[Self.name(update.uuid)] {
                done.append(container.id)
            }
        }
        await runtime.remove(done)
        let soon = now.addingTimeInterval(overdue.isEmpty ? 2 : 0.5)
        return PollResult(updates: updates, nextPoll: min(soon, nextDeadline ?? soon))
    }

    private func finished(_ workflow: ActiveWorkflow, code: Int, oomKilled: Bool, runtimeError: String, work: WorkFolder) -> WorkflowUpdate {
        var details = work.details(exitCode: code)
        details["container"] = .string(Self.name(workflow.uuid))
        if workflow.status == .aborting || FileManager.default.fileExists(atPath: work.path("aborted")) {
            return WorkflowUpdate(uuid: workflow.uuid, status: .aborted, details: details)
        }
        if FileManager.default.fileExists(atPath: work.path("timed_out")) {
            let limit = workflow.overrides["timeout"]?.doubleValue ?? timeout ?? 0
            return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: details,
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
            return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: details,
                                  error: WorkflowError("killed (out of memory or signal)\(oomKilled ? ": out of memory" : ""); exit code 137"))
        case 125...127 where work.exitCode() == nil:
            let reason = runtimeError.isEmpty ? (work.lastErrorLine ?? "the runtime failed to run the command") : runtimeError
            return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: details,
                                  error: .infrastructure("container runtime error (exit \(code)): \(reason)"))
        default:
            let line = work.lastErrorLine.map { ": \($0)" } ?? ""
            return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: details,
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
              let status = document["status"]?.stringValue.flatMap(WorkflowStatus.init(rawValue:)), status.isFinal else { return nil }
        return WorkflowUpdate(uuid: uuid, status: status, outputs: document["outputs"]?.objectValue,
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

    private func root(_ context: StageContext) -> WorkRoot {
        WorkRoot(workDir: workDir, defaultName: "containers", context)
    }

    private func folder(_ context: StageContext, _ workflow: UUID) -> URL {
        root(context).folder(workflow)
    }
}
