import Foundation
import LauncherCore
import LauncherStageSupport
import LauncherSystem

#if canImport(Glibc)
    import Glibc
#endif

/// `{"name": "Local", "command": "…{{field}}…", "workDir"?, "timeout"?, "maxParallel"?, "env"?}`
///
/// Runs a shell command per item as a local process, in its own work folder
/// `<workDir>/<workload uuid>/<workflow uuid>/`:
///
/// - `{{field}}` in the command is replaced by the item's value, shell-quoted; every input is
///   also an environment variable (when its name is a valid one) and the whole item is in
///   `inputs.json` (`$WFL_INPUTS`). A command may write an object of outputs to `$WFL_OUTPUTS`.
/// - A wrapper (`run.sh`) runs the command in its own process group, sends its output to
///   `stdout.log`/`stderr.log`, enforces the timeout, and writes the exit code to `exit`
///   through a rename. The wrapper holds a lock on `lock` while it lives: that is how a
///   restarted launcher tells a running workflow from a lost one, and why a workflow can
///   never be started twice.
/// - Abort kills the process group.
struct LocalExecutor: Executor, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Local"
        static let summary = "Runs a shell command per item as a local process, in a per-workflow work folder."

        var command = ""
        var workDir: String?
        var timeout: Double?
        var maxParallel = ProcessInfo.processInfo.activeProcessorCount
        var env: [String: String] = [:]

        static let fields: [Field<Config>] = [
            Field(
                "command", \.command, .command, required: true,
                "Shell command; {{field}} is replaced by the item's value, shell-quoted. Inputs are also environment variables."),
            Field("workDir", \.workDir, .path, "Folder for per-workflow work folders (default $WFL_HOME/work)."),
            Field("timeout", \.timeout, .seconds(), "Seconds a workflow may run before it is killed and failed."),
            Field("maxParallel", \.maxParallel, .count(max: 10_000), "Most workflows running at once (default: the number of CPUs)."),
            Field("env", \.env, .environment, "Extra environment variables (name: value)."),
        ]

        func finish(at path: FieldPath, context: ConfigContext) throws {
            try CommandScript.validate(template: command, at: path.key("command"))
        }
    }

    /// What a retry may change for its new attempts.
    struct Overrides: ConfigStruct {
        var timeout: Double?
        static let fields: [Field<Overrides>] = [
            Field("timeout", \.timeout, .seconds(), "Seconds the new attempts may run.")
        ]
    }

    static let type = StageType<any Executor>(Config.self) { LocalExecutor(config: $0) }

    let config: Config

    var maxActive: Int? { config.maxParallel }

    var commandScript: CommandScript { CommandScript(template: config.command, environment: config.env) }

    func validateRemotely(_ context: StageContext) async throws {
        try root(context).check()
    }

    func checkInputs(_ inputs: JSONObject) -> String? {
        commandScript.check(inputs, field: "executor.command")
    }

    func validateOverrides(_ overrides: JSONObject, at path: FieldPath) throws -> JSONObject {
        try Overrides.decode(overrides, at: path, context: .request, what: "the Local executor's retry overrides").storedObject
    }

    // MARK: Launch

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        var outcomes: [UUID: SubmitOutcome] = [:]
        for workflow in workflows {
            let folder = self.folder(context, workflow.uuid)
            let details: JSONObject = ["workDir": .string(folder.path)]
            if workflow.mayExist,
                FileManager.default.fileExists(atPath: folder.appendingPathComponent("pid").path)
                    || FileManager.default.fileExists(atPath: folder.appendingPathComponent("exit").path)
            {
                outcomes[workflow.uuid] = .launched(Launched(externalID: nil, details: details))  // started before a crash
                continue
            }
            if let problem = checkInputs(workflow.inputs) {
                outcomes[workflow.uuid] = .failed(WorkflowError(problem))
                continue
            }
            do {
                try commandScript.write(workflow: workflow, workload: context.workloadUUID, folder: folder)
                let timeout = workflow.overrides["timeout"]?.doubleValue ?? config.timeout
                try ProcessTools.writeAtomically(
                    Self.wrapper(timeout: timeout),
                    to: folder.appendingPathComponent("run.sh"), executable: true)
                // The wrapper's lock makes a second start of the same folder a no-op, so this is
                // safe even if an earlier attempt got this far before the launcher crashed.
                try ProcessTools.spawnDetached(script: folder.appendingPathComponent("run.sh").path)
                outcomes[workflow.uuid] = .launched(Launched(externalID: nil, details: details))
            } catch {
                outcomes[workflow.uuid] = .deferred("\(error)")
            }
        }
        return outcomes
    }

    /// The wrapper. It takes the folder's lock first, so at most one wrapper ever runs a
    /// workflow, and holds it until the exit code is on disk.
    static func wrapper(timeout: Double?) -> String {
        let seconds = timeout.map { JSONValue.double($0).description } ?? "0"
        return """
            #!/bin/sh
            # Written by Workflow Launcher: runs command.sh once, in its own process group, and
            # records its exit code atomically in ./exit.
            cd "$(dirname "$0")" || exit 120
            exec 9>>lock
            flock -n 9 || exit 0
            [ -e exit ] && exit 0
            if [ -e aborted ]; then echo 143 >exit.tmp && mv -f exit.tmp exit; exit 0; fi
            setsid /bin/sh ./command.sh >stdout.log 2>stderr.log </dev/null 9>&- &
            pid=$!
            echo "$pid" >pid.tmp && mv -f pid.tmp pid
            watchdog=
            if [ "\(seconds)" != "0" ]; then
              ( trap 'kill "$s" 2>/dev/null; exit 0' TERM
                sleep \(seconds) & s=$!; wait "$s"
                : >timed_out; kill -TERM -"$pid" 2>/dev/null; sleep 5; kill -KILL -"$pid" 2>/dev/null ) 9>&- &
              watchdog=$!
            fi
            wait "$pid"; rc=$?
            [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
            echo "$rc" >exit.tmp && mv -f exit.tmp exit

            """
    }

    // MARK: Status

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        var updates: [WorkflowUpdate] = []
        let now = Date()
        for workflow in workflows {
            let folder = self.folder(context, workflow.uuid)
            let files = Files(folder)
            if let code = files.exitCode() {
                updates.append(finished(workflow, code: code, files: files))
                continue
            }
            let pid = files.pid()
            if ProcessTools.isLocked(files.lock) {
                // Alive. Back-stop the wrapper's own timeout in case its watchdog died.
                let timeout = workflow.overrides["timeout"]?.doubleValue ?? config.timeout
                if let timeout, let pid, let started = workflow.submitted, now.timeIntervalSince(started) > timeout + 30 {
                    FileManager.default.createFile(atPath: files.path("timed_out"), contents: nil)
                    ProcessTools.signalGroup(pid, SIGKILL)
                }
                if let pid, workflow.status != .running && workflow.status != .aborting {
                    updates.append(
                        WorkflowUpdate(
                            uuid: workflow.uuid, status: .running, externalID: "pid \(pid)",
                            details: ["pid": .int(Int64(pid))]))
                }
                continue
            }
            // No wrapper holds the lock: it finished just now, never started, or was lost.
            if let code = files.exitCode() {
                updates.append(finished(workflow, code: code, files: files))
            } else if pid != nil || now.timeIntervalSince(workflow.submitted ?? now) > 60 {
                updates.append(
                    WorkflowUpdate(
                        uuid: workflow.uuid, status: .failed,
                        error: .infrastructure(
                            pid == nil
                                ? "the process never started (its wrapper did not run within 60 s)"
                                : "the process ended without recording an exit code (killed with its wrapper, or the machine restarted)")))
            }
        }
        return PollResult(updates: updates)
    }

    private func finished(_ workflow: ActiveWorkflow, code: Int, files: Files) -> WorkflowUpdate {
        var details = files.work.details(exitCode: code)
        if FileManager.default.fileExists(atPath: files.path("aborted")) {
            return WorkflowUpdate(uuid: workflow.uuid, status: .aborted, details: details)
        }
        if FileManager.default.fileExists(atPath: files.path("timed_out")) {
            let limit = workflow.overrides["timeout"]?.doubleValue ?? config.timeout ?? 0
            return WorkflowUpdate(
                uuid: workflow.uuid, status: .failed, details: details,
                error: WorkflowError("timed out after \(JSONValue.double(limit))s and was killed"))
        }
        if code == 0 {
            switch files.work.outputs() {
            case .valid(let outputs):
                return WorkflowUpdate(uuid: workflow.uuid, status: .succeeded, outputs: outputs, details: details)
            case .invalid(let problem):
                return WorkflowUpdate(uuid: workflow.uuid, status: .failed, details: details, error: WorkflowError(problem))
            }
        }
        if let tail = ProcessTools.tail(of: files.path("stderr.log")) { details["stderrTail"] = .string(tail) }
        let reason = code > 128 && code < 160 ? "was killed by signal \(code - 128)" : "exited with code \(code)"
        let lastLine = files.work.lastErrorLine.map { ": \($0)" } ?? ""
        return WorkflowUpdate(
            uuid: workflow.uuid, status: .failed, details: details,
            error: WorkflowError("command \(reason)\(lastLine)"))
    }

    // MARK: Abort

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        var groups: [(UUID, Files)] = []
        for workflow in workflows {
            let files = Files(folder(context, workflow.uuid))
            if FileManager.default.fileExists(atPath: files.folder.path) {
                FileManager.default.createFile(atPath: files.path("aborted"), contents: nil)
            }
            groups.append((workflow.uuid, files))
        }
        // A wrapper that is starting may not have written its pid yet: give it a moment.
        for _ in 0..<10 where groups.contains(where: { ProcessTools.isLocked($0.1.lock) && $0.1.pid() == nil }) {
            try? await Task.sleep(for: .milliseconds(100))
        }
        for (_, files) in groups { if let pid = files.pid() { ProcessTools.signalGroup(pid, SIGTERM) } }
        for _ in 0..<30 where groups.contains(where: { $0.1.pid().map(ProcessTools.groupExists) ?? false }) {
            try? await Task.sleep(for: .milliseconds(100))
        }
        for (_, files) in groups { if let pid = files.pid() { ProcessTools.signalGroup(pid, SIGKILL) } }
        return groups.map { uuid, files in
            WorkflowUpdate(uuid: uuid, status: .aborted, details: ["workDir": .string(files.folder.path)])
        }
    }

    // MARK: Helpers

    func logLocation(of workflow: ActiveWorkflow, stream: LogStream, context: StageContext) async throws -> WorkflowLogLocation {
        root(context).log(workflow.uuid, stream)
    }

    private func root(_ context: StageContext) -> WorkRoot {
        WorkRoot(workDir: config.workDir, defaultName: "work", context)
    }

    private func folder(_ context: StageContext, _ workflow: UUID) -> URL {
        root(context).folder(workflow)
    }

    /// A workflow's work folder, plus the wrapper's lock and pid.
    struct Files {
        let work: WorkFolder
        init(_ folder: URL) { work = WorkFolder(folder) }

        var folder: URL { work.folder }
        func path(_ name: String) -> String { work.path(name) }
        var lock: String { path("lock") }
        func exitCode() -> Int? { work.exitCode() }

        func pid() -> Int32? {
            guard let text = try? String(contentsOfFile: path("pid"), encoding: .utf8) else { return nil }
            return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
