import Foundation
import LauncherCore
import LauncherPostgres
import LauncherStages
import LauncherSystem
import LauncherTestSupport
import Testing

func slurmExecutor(_ cluster: SlurmCluster, _ fields: JSONObject) -> JSONValue {
    var config: JSONObject = ["name": "SLURM", "slurmConf": .string(cluster.conf), "pollSeconds": 0.5, "memory": "64M"]
    config.merge(fields) { _, new in new }
    return .object(config)
}

/// Workloads on a real single-node cluster, with and without accounting. Serialized: one
/// test stops the controller, which the others must not see.
@Suite(.serialized) struct SlurmWorkloadTests {
    /// sbatch hands the job the environment it runs in, so the launcher runs it without its
    /// secrets: an operator's job must not find the database's URL (an admin's keys).
    @Test func aJobSeesNoneOfTheLaunchersSecrets() async throws {
        let cluster = SlurmCluster.plain
        try cluster.check()
        try await TestLauncher.with { launcher in
            #expect(ProcessInfo.processInfo.environment["WFL_TEST_DATABASE_URL"] != nil, "the test needs a secret to look for")
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1),
                    executor: slurmExecutor(
                        cluster,
                        [
                            "command":
                                #"echo "{\"db\": \"${WFL_TEST_DATABASE_URL:-none}\", \"path\": \"${PATH:-none}\", \"given\": \"$GIVEN\"}" > "$WFL_OUTPUTS""#,
                            "env": ["GIVEN": "yes"],
                        ])), start: true)
            _ = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120))
            let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            #expect(workflow.outputs?["db"] == "none", "the job saw the launcher's database URL: \(workflow.outputs ?? [:])")
            #expect(workflow.outputs?["given"] == "yes" && workflow.outputs?["path"] != "none", "\(workflow.outputs ?? [:])")
        }
    }

    @Test(arguments: SlurmCluster.both)
    func successAndFailureWithOutputsDelivered(cluster: SlurmCluster) async throws {
        try cluster.check()
        try await TestLauncher.with { launcher in
            let out = launcher.home.appendingPathComponent("out")
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["sample": "a", "code": 0], ["sample": "b", "code": 3]]],
                    executor: slurmExecutor(
                        cluster,
                        [
                            "command":
                                #"echo "{\"sample\": \"$sample\", \"job\": \"$SLURM_JOB_ID\"}" > "$WFL_OUTPUTS"; echo "broken input" >&2; exit {{code}}"#
                        ]),
                    sink: ["name": "Directory", "path": .string(out.path)]), start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120))
            #expect(done.counts == [.succeeded: 1, .failed: 1])
            let workflows = try await launcher.allWorkflows(view.record.uuid)
            let ok = try #require(workflows.first { $0.status == .succeeded })
            #expect(ok.outputs?["sample"] == "a")
            #expect(ok.outputs?["job"]?.stringValue == ok.externalID)
            #expect(ok.details["exitCode"] == 0)
            #expect(ok.details["slurmState"] == "COMPLETED")
            let failed = try #require(workflows.first { $0.status == .failed })
            #expect(failed.error?.kind == .workflow)
            #expect(failed.error?.message == "FAILED: the job failed; exit code 3: broken input")
            #expect(failed.details["exitCode"] == 3)
            // The sink got inputs, exit code and log paths with the outputs.
            let delivered = try JSONValue.parse(Data(contentsOf: out.appendingPathComponent("\(ok.uuid.uuidString.lowercased()).json")))
            #expect(delivered["inputs"]?["sample"] == "a")
            #expect(delivered["details"]?["exitCode"] == 0)
            #expect(delivered["details"]?["stdout"]?.stringValue?.hasSuffix("stdout.log") == true)
            // One job per workflow, named after it.
            #expect(try await cluster.jobs(named: ok.uuid.uuidString.lowercased()) == [try #require(ok.externalID)])
        }
    }

    @Test(arguments: SlurmCluster.both)
    func anArrayOfFiftyWithMixedExitCodes(cluster: SlurmCluster) async throws {
        try cluster.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(50) { ["n": .int(Int64($0)), "code": .int(Int64($0 % 3 == 0 ? 1 : 0))] },
                    executor: slurmExecutor(cluster, ["command": "exit {{code}}", "array": 50])), start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(180))
            #expect(done.counts == [.succeeded: 33, .failed: 17])
            let workflows = try await launcher.allWorkflows(view.record.uuid)
            let arrayJobs = Set(workflows.compactMap { $0.externalID?.split(separator: "_").first })
            #expect(arrayJobs.count == 1, "50 items in one job array, got \(arrayJobs)")
            #expect(Set(workflows.compactMap(\.externalID)).count == 50)
            for workflow in workflows {
                let shouldFail = (workflow.inputs["code"]?.intValue ?? 0) == 1
                #expect(workflow.status == (shouldFail ? .failed : .succeeded))
            }
        }
    }

    @Test(arguments: SlurmCluster.both)
    func anUnknownPartitionIsAClearErrorOnTheWorkflow(cluster: SlurmCluster) async throws {
        try cluster.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1), executor: slurmExecutor(cluster, ["command": "true", "partition": "nowhere"])),
                start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid)
            #expect(done.counts == [.failed: 1])
            let error = try #require(try await launcher.allWorkflows(view.record.uuid).first?.error)
            #expect(error.message.hasPrefix("sbatch refused the job: "))
            #expect(error.message.lowercased().contains("invalid partition"))
        }
    }

    @Test(arguments: SlurmCluster.both)
    func abortCancelsPendingAndRunningJobs(cluster: SlurmCluster) async throws {
        try cluster.check()
        try await TestLauncher.with { launcher in
            let running = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(2), executor: slurmExecutor(cluster, ["command": "sleep 300"])), start: true)
            let pending = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(2), executor: slurmExecutor(cluster, ["command": "true", "extraArgs": ["--begin=now+3600"]])),
                start: true)
            try await launcher.updateUntil(running.record.uuid, timeout: .seconds(60), "jobs running") { $0.counts[.running] == 2 }
            try await launcher.updateUntil(pending.record.uuid, timeout: .seconds(60), "jobs queued") { $0.counts[.queued] == 2 }
            for uuid in [running.record.uuid, pending.record.uuid] {
                _ = try await launcher.service.abort(uuid)
                let done = try await launcher.runUntilFinished(uuid, timeout: .seconds(60))
                #expect(done.counts == [.aborted: 2])
                for workflow in try await launcher.allWorkflows(uuid) {
                    let state = try await cluster.run([
                        "squeue", "--noheader", "--states=all", "--format=%T", "--jobs=\(workflow.externalID ?? "")",
                    ])
                    #expect(state.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "CANCELLED")
                }
            }
        }
    }

    @Test(arguments: SlurmCluster.both)
    func aControllerOutageChangesNoWorkflowAndAllFinishAfterItReturns(cluster: SlurmCluster) async throws {
        try cluster.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(3), executor: slurmExecutor(cluster, ["command": "sleep 2", "commandTimeoutSeconds": 30])),
                start: true)
            try await launcher.updateUntil(view.record.uuid, timeout: .seconds(60), "jobs submitted") {
                ($0.counts[.submitted] ?? 0) + ($0.counts[.queued] ?? 0) + ($0.counts[.running] ?? 0) == 3
            }
            let before = try await launcher.allWorkflows(view.record.uuid).map { "\($0.uuid) \($0.status)" }
            try await cluster.stopController()
            do {
                // The jobs finish while the controller is down; the launcher must not guess.
                try await Task.sleep(for: .seconds(3))
                let outcome = await launcher.updater.updateRecordingErrors(view.record)
                guard case .failed = outcome else { throw TestFailure("the update did not fail during the outage: \(outcome)") }
                let during = try await launcher.service.workload(view.record.uuid)
                #expect(try await launcher.allWorkflows(view.record.uuid).map { "\($0.uuid) \($0.status)" } == before)
                #expect(
                    during.record.lastError?.contains("Unable to contact slurm controller") == true,
                    "\(during.record.lastError ?? "no error")")
            } catch {
                try await cluster.startController()
                throw error
            }
            try await cluster.startController()
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120))
            #expect(done.counts == [.succeeded: 3])
            #expect(done.record.errorCount == 0)
        }
    }

    @Test(arguments: SlurmCluster.both)
    func retryOfFailedWorkflowsWithMoreMemory(cluster: SlurmCluster) async throws {
        try cluster.check()
        try await TestLauncher.with { launcher in
            let command = #"[ "$SLURM_MEM_PER_NODE" -ge 200 ] || { echo "only ${SLURM_MEM_PER_NODE}M of memory" >&2; exit 2; }"#
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(2), executor: slurmExecutor(cluster, ["command": .string(command), "memory": "100M"])),
                start: true)
            let first = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120))
            #expect(first.counts == [.failed: 2])
            #expect(
                try await launcher.allWorkflows(view.record.uuid).allSatisfy { $0.error?.message.hasSuffix("only 100M of memory") == true })
            await #expect(throws: LauncherError.self) {
                try await launcher.service.retry(view.record.uuid, request: ["status": "Failed", "overrides": ["memory": "lots"]])
            }
            let retried = try await launcher.service.retry(
                view.record.uuid, request: ["status": "Failed", "overrides": ["memory": "300M"]])
            #expect(retried.allSatisfy { $0.overrides == ["memory": "300M"] && $0.attempt == 2 })
            let second = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120))
            #expect(second.counts == [.succeeded: 2])
        }
    }
}

/// A time limit runs out 30–90 s after it is due on this cluster: kept apart so it can run
/// beside the other tests. It tolerates the controller outage the serialized suite causes.
@Suite struct SlurmTimeoutTests {
    @Test(arguments: SlurmCluster.both)
    func aJobOverItsTimeLimitFailsAsTimeout(cluster: SlurmCluster) async throws {
        try cluster.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1), executor: slurmExecutor(cluster, ["command": "sleep 600", "time": "1"])),
                start: true)
            // Failed updates (the controller restarted by the serialized suite) are recorded and retried.
            let done = try await launcher.updateUntil(view.record.uuid, timeout: .seconds(300), "the job to time out") {
                $0.record.finished != nil
            }
            #expect(done.counts == [.failed: 1])
            let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            #expect(
                workflow.error?.message.hasPrefix("TIMEOUT: the job exceeded its time limit (time=1)") == true,
                "\(workflow.error?.message ?? "")")
            #expect(workflow.error?.kind == .workflow)
            #expect(workflow.details["slurmState"] == "TIMEOUT")
        }
    }
}
