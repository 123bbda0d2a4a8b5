import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import Logging
import Testing

@testable import LauncherStages

/// The Local executor against real processes, without a database: submit, then poll the way
/// the updater does until a final status.
@Suite struct LocalExecutorTests {
    let home: URL
    let context: StageContext

    init() throws {
        home = try TestFiles.temporaryFolder("local")
        context = StageContext(
            workloadUUID: UUID(), project: "t", logger: Logger(label: "test"),
            environment: LauncherEnvironment(home: home))
    }

    func executor(_ config: JSONObject) throws -> LocalExecutor {
        var config = config
        config["name"] = "Local"
        return try #require(try StageRegistry.builtin.makeExecutor(.object(config)) as? LocalExecutor)
    }

    func launch(
        _ executor: LocalExecutor, _ inputs: JSONObject, uuid: UUID = UUID(), mayExist: Bool = false,
        overrides: JSONObject = [:]
    ) async throws -> ActiveWorkflow {
        let outcomes = try await executor.submit(
            [LaunchRequest(uuid: uuid, inputs: inputs, attempt: 1, overrides: overrides, submission: nil, mayExist: mayExist)],
            context: context)
        guard case .launched(let launched)? = outcomes[uuid] else {
            throw TestFailure("not launched: \(String(describing: outcomes[uuid]))")
        }
        return ActiveWorkflow(
            uuid: uuid, status: launched.status, externalID: launched.externalID, submission: nil,
            attempt: 1, overrides: overrides, details: launched.details, submitted: Date())
    }

    func waitFinal(_ executor: LocalExecutor, _ workflow: ActiveWorkflow, timeout: Double = 30) async throws -> WorkflowUpdate {
        let deadline = Date().addingTimeInterval(timeout)
        var current = workflow
        while Date() < deadline {
            for update in try await executor.poll([current], context: context).updates {
                if update.status.isFinal { return update }
                current.status = update.status
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("workflow did not finish within \(timeout) s")
    }

    func folder(_ uuid: UUID) -> URL {
        home.appendingPathComponent("work").appendingPathComponent(context.workloadUUID.uuidString.lowercased())
            .appendingPathComponent(uuid.uuidString.lowercased())
    }

    @Test func successReadsOutputsAndGivesInputsAsVariablesFileAndTemplate() async throws {
        let executor = try executor([
            "command":
                #"printf '{"greeting": "%s", "fromEnv": "%s", "fromFile": %s}' {{name}} "$name" "$(cat "$WFL_INPUTS" | tr -d '\n ')" > "$WFL_OUTPUTS""#
        ])
        let workflow = try await launch(executor, ["name": "it's me", "n": 3])
        let update = try await waitFinal(executor, workflow)
        #expect(update.status == .succeeded)
        #expect(update.outputs?["greeting"] == "it's me")
        #expect(update.outputs?["fromEnv"] == "it's me")
        #expect(update.outputs?["fromFile"]?["n"] == 3)
        #expect(update.details["exitCode"] == 0)
    }

    @Test func nonZeroExitFailsWithTheCodeAndStderr() async throws {
        let executor = try executor(["command": "echo 'reference genome missing' >&2; exit 3"])
        let update = try await waitFinal(executor, try await launch(executor, [:]))
        #expect(update.status == .failed)
        #expect(update.error?.kind == .workflow)
        #expect(update.error?.message == "command exited with code 3: reference genome missing")
        #expect(update.details["exitCode"] == 3)
    }

    @Test func invalidOutputsFileFailsTheWorkflow() async throws {
        let executor = try executor(["command": "echo '[1, 2' > \"$WFL_OUTPUTS\""])
        let update = try await waitFinal(executor, try await launch(executor, [:]))
        #expect(update.status == .failed)
        #expect(update.error?.message.contains("not a JSON object") == true)
    }

    @Test func timeoutKillsAndFailsWithTimeout() async throws {
        let executor = try executor(["command": "sleep 30", "timeout": 1])
        let started = Date()
        let update = try await waitFinal(executor, try await launch(executor, [:]))
        #expect(update.status == .failed)
        #expect(update.error?.message == "timed out after 1s and was killed")
        #expect(Date().timeIntervalSince(started) < 15)
    }

    @Test func retryOverrideTimeoutWins() async throws {
        let executor = try executor(["command": "sleep 2; echo done", "timeout": 1])
        let update = try await waitFinal(executor, try await launch(executor, [:], overrides: ["timeout": 10]))
        #expect(update.status == .succeeded)
    }

    @Test func abortKillsTheWholeProcessGroup() async throws {
        // The command starts a grandchild that records its pid; abort must take it down too.
        let executor = try executor(["command": "sleep 60 & echo $! > child.pid; wait"])
        let workflow = try await launch(executor, [:])
        let childFile = folder(workflow.uuid).appendingPathComponent("child.pid")
        var child: Int32?
        for _ in 0..<100 where child == nil {
            child = (try? String(contentsOf: childFile, encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let pid = try #require(child)
        #expect(kill(pid, 0) == 0)
        let updates = try await executor.abort([workflow], context: context)
        #expect(updates.map(\.status) == [.aborted])
        try await Task.sleep(for: .milliseconds(300))
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ")[2]
        #expect(state == nil || state == "Z", "grandchild \(pid) still running")
        // The wrapper still records the exit, and a later poll reports Aborted, not Failed.
        let final = try await waitFinal(executor, workflow)
        #expect(final.status == .aborted)
    }

    @Test func aRestartedLauncherFindsAFinishedProcessByItsExitFile() async throws {
        let executor = try executor(["command": "echo hi > out.txt"])
        let workflow = try await launch(executor, [:])
        // The launcher "restarts": a fresh executor instance and nothing in memory.
        try await Task.sleep(for: .milliseconds(500))
        let restarted = try self.executor(["command": "echo hi > out.txt"])
        let update = try await waitFinal(restarted, workflow)
        #expect(update.status == .succeeded)
    }

    @Test func aLaunchThatMayHaveHappenedIsNotRepeated() async throws {
        let executor = try executor(["command": "echo run >> \"$WFL_WORK_DIR/../runs.log\"; sleep 1"])
        let uuid = UUID()
        let first = try await launch(executor, [:], uuid: uuid)
        try await Task.sleep(for: .milliseconds(300))
        // A crash after the spawn but before the database write: the retry says mayExist.
        _ = try await launch(executor, [:], uuid: uuid, mayExist: true)
        _ = try await waitFinal(executor, first)
        let log = try String(contentsOf: folder(uuid).deletingLastPathComponent().appendingPathComponent("runs.log"), encoding: .utf8)
        #expect(log == "run\n")
    }

    @Test func theWrapperLockLetsOnlyOneStartRun() async throws {
        let executor = try executor(["command": "echo run >> \"$WFL_WORK_DIR/../runs.log\"; sleep 1"])
        let workflow = try await launch(executor, [:])
        // Start the same wrapper again by hand, twice, while the first runs.
        let script = folder(workflow.uuid).appendingPathComponent("run.sh").path
        try ProcessTools.spawnDetached(script: script)
        try ProcessTools.spawnDetached(script: script)
        _ = try await waitFinal(executor, workflow)
        try await Task.sleep(for: .milliseconds(300))
        let log = try String(
            contentsOf: folder(workflow.uuid).deletingLastPathComponent().appendingPathComponent("runs.log"), encoding: .utf8)
        #expect(log == "run\n")
    }

    @Test func aProcessThatDiesWithItsWrapperIsLostNotSucceeded() async throws {
        let executor = try executor(["command": "sleep 30"])
        let workflow = try await launch(executor, [:])
        let files = folder(workflow.uuid)
        var pid: Int32?
        for _ in 0..<100 where pid == nil {
            pid = (try? String(contentsOf: files.appendingPathComponent("pid"), encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        // Kill everything, the wrapper too (as a reboot would): no exit file is ever written.
        let wrapperScript = files.appendingPathComponent("run.sh").path
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let id = Int32(entry), let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            if String(decoding: cmdline, as: UTF8.self).contains(wrapperScript) { kill(id, SIGKILL) }
        }
        kill(-(try #require(pid)), SIGKILL)
        try await Task.sleep(for: .milliseconds(300))
        let update = try await waitFinal(executor, workflow)
        #expect(update.status == .failed)
        #expect(update.error?.kind == .infrastructure)
    }

    @Test func templateFieldsAreCheckedAndQuoted() throws {
        let executor = try executor(["command": "echo {{sample}} {{ lane }}"])
        #expect(executor.checkInputs(["sample": "a"]) == "has no field \"lane\", which executor.command uses as {{lane}}")
        #expect(executor.checkInputs(["sample": "a", "lane": 1]) == nil)
        #expect(
            CommandScript(template: "echo {{x}}", environment: [:]).render(["x": "$(rm -rf /); 'q'"]) == #"echo '$(rm -rf /); '\''q'\'''"#)
        #expect(throws: LauncherError.self) { try self.executor(["command": "echo {{bad field}}"]) }
        #expect(throws: LauncherError.self) { try self.executor(["command": "x", "maxParallel": 0]) }
        #expect(throws: LauncherError.self) { try self.executor(["command": "x", "timeout": -1]) }
        #expect(throws: LauncherError.self) { try self.executor(["command": "x", "env": ["BAD NAME": "v"]]) }
        #expect(throws: LauncherError.self) { try self.executor(["command": "  "]) }
    }

    /// A launch that may have happened before a crash: its wrapper ran and died without an exit
    /// file (the machine went down). The workflow is looked for, found, and reported lost; its
    /// command never runs a second time.
    @Test func aPossiblyLaunchedWorkflowWhoseWrapperDiedIsReportedLostNotRunAgain() async throws {
        let counter = home.appendingPathComponent("runs.log").path
        let executor = try executor(["command": .string("echo ran >> \(counter)")])
        let uuid = UUID()
        let first = try await launch(executor, [:], uuid: uuid)
        _ = try await waitFinal(executor, first)
        // Back to how a dead wrapper leaves the folder: a pid, no exit code, no lock holder.
        try FileManager.default.removeItem(at: folder(uuid).appendingPathComponent("exit"))
        try "999999\n".write(to: folder(uuid).appendingPathComponent("pid"), atomically: true, encoding: .utf8)
        let relaunched = try await launch(executor, [:], uuid: uuid, mayExist: true)
        let update = try await waitFinal(executor, relaunched)
        #expect(update.status == .failed)
        #expect(update.error?.kind == .infrastructure, "\(String(describing: update.error))")
        #expect(update.error?.message.contains("without recording an exit code") == true, "\(String(describing: update.error))")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try String(contentsOfFile: counter, encoding: .utf8) == "ran\n", "the command ran again")
    }
}
