import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import Testing

/// A crash between `sbatch` and the database write, then a restart: SLURM must end up with
/// exactly one job per workflow (one array task per workflow for arrays).
@Suite struct SlurmCrashTests {
    @Test(arguments: SlurmCluster.both, [false, true])
    func aCrashBetweenSbatchAndTheDatabaseWriteSubmitsNothingTwice(cluster: SlurmCluster, array: Bool) async throws {
        try cluster.check()
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            var executor: JSONObject = [
                "name": "SLURM", "command": "sleep 1", "slurmConf": .string(cluster.conf),
                "pollSeconds": 0.5, "memory": "64M",
            ]
            if array { executor["array"] = 10 }
            let file = try writeRequest(TestLauncher.request(source: TestLauncher.items(3), executor: .object(executor)), in: launcher.home)
            let uuid = try #require(try await wfl.json(["exec", file])["uuid"]?.stringValue)

            let crashed = try await wfl.run(["update"], extra: ["WFL_FAULT": "after-submit"])
            #expect(crashed.status == 97, "\(crashed.stderr)")
            let pending = try await wfl.json(["workflows", uuid])
            #expect(pending.arrayValue?.allSatisfy { $0["status"] == "Pending" } == true)

            for _ in 0..<120 {
                try await wfl.run(["update"])
                if try await wfl.json(["workloads", uuid])["finished"] != nil { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            let workflows = try await wfl.json(["workflows", uuid]).arrayValue ?? []
            #expect(workflows.count == 3 && workflows.allSatisfy { $0["status"] == "Succeeded" }, "\(workflows)")
            // Every job carrying the workload's comment, whatever its name (a resubmission gets a
            // new array name): exactly one per task.
            #expect(try await cluster.jobs(commentContaining: "workload=\(uuid)").count == 3, "a workflow was submitted twice")
            if array {
                let arrayName = try #require(workflows.first?["submission"]?.stringValue)
                #expect(workflows.allSatisfy { $0["submission"]?.stringValue == arrayName })
                #expect(
                    try await cluster.jobs(named: "wfl-array-\(arrayName)").count == 3, "one array (named by its submission), three tasks")
            } else {
                for workflow in workflows {
                    let name = try #require(workflow["uuid"]?.stringValue)
                    #expect(try await cluster.jobs(named: name).count == 1, "workflow \(name) submitted more than once")
                }
            }
        }
    }
}
