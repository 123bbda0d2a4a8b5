import Foundation
import LauncherCore
import LauncherTestSupport
import Logging
import Testing

@testable import LauncherStages

/// The executor alone, against the cluster: what it does when SLURM has no record of a job.
@Suite struct SlurmExecutorTests {
    func context(_ home: URL) -> StageContext {
        StageContext(workloadUUID: UUID(), project: "t", logger: Logger(label: "t"), environment: LauncherEnvironment(home: home))
    }

    func executor(_ cluster: SlurmCluster, _ fields: JSONObject = [:]) throws -> SlurmExecutor {
        var config: JSONObject = ["name": "SLURM", "command": "true", "slurmConf": .string(cluster.conf), "lostAfterSeconds": 5]
        config.merge(fields) { _, new in new }
        return try #require(try StageRegistry.builtin.makeExecutor(.object(config)) as? SlurmExecutor)
    }

    @Test(arguments: SlurmCluster.both)
    func aJobSLURMNeverHeardOfIsLostAfterTheGracePeriod(cluster: SlurmCluster) async throws {
        try cluster.check()
        let executor = try executor(cluster)
        let context = context(try TestFiles.temporaryFolder("slurm"))
        var workflow = ActiveWorkflow(
            uuid: UUID(), status: .running, externalID: "987654321", submission: nil, attempt: 1,
            overrides: [:], details: [:], submitted: Date())
        let first = try await executor.poll([workflow], context: context).updates
        #expect(first.count == 1 && first[0].status == .running, "only remembers when it went missing")
        workflow.details = first[0].details
        #expect(try await executor.poll([workflow], context: context).updates.isEmpty)
        try await Task.sleep(for: .milliseconds(5100))
        let lost = try await executor.poll([workflow], context: context).updates
        #expect(lost.first?.status == .failed)
        #expect(lost.first?.error?.kind == .infrastructure)
        #expect(lost.first?.error?.message.hasPrefix("lost: SLURM has no record of job 987654321") == true)
    }

    @Test(arguments: SlurmCluster.both)
    func aJobGoneFromSLURMIsJudgedByItsExitFile(cluster: SlurmCluster) async throws {
        try cluster.check()
        let executor = try executor(cluster)
        let home = try TestFiles.temporaryFolder("slurm")
        let context = context(home)
        let uuid = UUID()
        let folder = home.appendingPathComponent("slurm").appendingPathComponent(context.workloadUUID.uuidString.lowercased())
            .appendingPathComponent(uuid.uuidString.lowercased())
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "0\n".write(to: folder.appendingPathComponent("exit"), atomically: true, encoding: .utf8)
        try #"{"x": 1}"#.write(to: folder.appendingPathComponent("outputs.json"), atomically: true, encoding: .utf8)
        let workflow = ActiveWorkflow(
            uuid: uuid, status: .running, externalID: "987654322", submission: nil, attempt: 1,
            overrides: [:], details: [:], submitted: Date())
        let update = try #require(try await executor.poll([workflow], context: context).updates.first)
        #expect(update.status == .succeeded)
        #expect(update.outputs == ["x": 1])
    }

    @Test func configurationErrorsNameTheField() {
        let cases: [(JSONObject, String)] = [
            ([:], "executor.command"),
            (["command": "x", "script": "/bin/true"], "executor.script"),
            (["script": "/nonexistent/tool"], "executor.script"),
            (["command": "x", "memory": "4 GB"], "executor.memory"),
            (["command": "x", "time": "an hour"], "executor.time"),
            (["command": "x", "cpus": 0], "executor.cpus"),
            (["command": "x", "partition": "a b"], "executor.partition"),
            (["command": "x", "extraArgs": ["--job-name=mine"]], "executor.extraArgs[0]"),
            (["command": "x", "extraArgs": ["nodash"]], "executor.extraArgs[0]"),
            (["command": "x", "array": 1], "executor.array"),
            (["command": "x", "slurmConf": "/nonexistent/slurm.conf"], "executor.slurmConf"),
            (["command": "x", "queue": "short"], "executor.queue"),
        ]
        for (fields, field) in cases {
            var config = fields
            config["name"] = "SLURM"
            do {
                _ = try StageRegistry.builtin.makeExecutor(.object(config))
                Issue.record("accepted \(fields)")
            } catch let error as LauncherError {
                #expect(error.details["field"]?.stringValue == field, "\(fields): \(error.message)")
            } catch {
                Issue.record("\(error)")
            }
        }
        let ok = try? StageRegistry.builtin.makeExecutor([
            "name": "SLURM", "command": "x", "memory": 4000, "time": "1-12:00:00", "array": true, "cpus": 4, "gpus": 1,
        ])
        #expect(ok?.storedConfig["memory"] == "4000" && ok?.storedConfig["array"] == 1000 && ok?.storedConfig["time"] == "1-12:00:00")
    }

    @Test func jobIDsAreReadDefensively() {
        #expect(SlurmClient.parseJobID("123\n") == "123")
        #expect(SlurmClient.parseJobID("456;cluster2") == "456")
        #expect(SlurmClient.parseJobID("Submitted batch job 789") == "789")
        #expect(SlurmClient.parseJobID("no id here") == nil)
        #expect(SlurmClient.isTransient("sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)"))
        #expect(!SlurmClient.isTransient("sbatch: error: invalid partition specified: nope"))
        #expect(SlurmState.normalise("CANCELLED by 0") == "CANCELLED")
    }
}
