import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import Testing

@Suite struct TerraCrashTests {
    /// `wfl update` dies right after Terra accepted the submission and before the database
    /// knows: the next update finds the submission by its comment instead of submitting again.
    @Test func aCrashBetweenSubmitAndTheDatabaseWriteMakesNoSecondSubmission() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace("broad-wfl/crash", methodConfiguration: "broad-wfl/wf")
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 3)
            try await TestLauncher.with { launcher in
                let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
                let file = try writeRequest(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]],
                        executor: [
                            "name": "Terra", "workspace": "broad-wfl/crash", "methodConfiguration": "broad-wfl/wf",
                            "fromSource": "importSnapshot", "pollSeconds": 0,
                        ]),
                    in: launcher.home)
                let created = try await wfl.run(["exec", file, "--json"], extra: fake.settings)
                #expect(created.status == 0, "\(created.stderr)")
                let uuid = try #require(try JSONValue.parse(created.stdout)["uuid"]?.stringValue)

                let crashed = try await wfl.run(["update"], extra: fake.settings.merging(["WFL_FAULT": "after-submit"]) { _, b in b })
                #expect(crashed.status == 97, "\(crashed.stderr)")
                #expect(fake.submissions().count == 1)
                let placeholder = try await wfl.json(["workflows", uuid]).arrayValue ?? []
                #expect(placeholder.count == 1 && placeholder.first?["status"] == "Pending", "the database never heard of the submission")

                for _ in 0..<60 {
                    let pass = try await wfl.run(["update"], extra: fake.settings)
                    #expect(pass.status == 0, "\(pass.stderr)")
                    if try await wfl.json(["workloads", uuid])["finished"] != nil { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let workflows = try await wfl.json(["workflows", uuid]).arrayValue ?? []
                #expect(
                    workflows.count == 3 && workflows.allSatisfy { $0["status"] == "Succeeded" && $0["externalId"] != nil }, "\(workflows)")
                #expect(fake.submissions().count == 1, "no second submission")
                #expect(Set(workflows.compactMap { $0["inputs"]?["entity"]?.stringValue }) == Set(snapshot.rows))
                #expect(fake.calls("GET").contains { $0.path.hasSuffix("/submissions") }, "the workspace's submissions were listed")
            }
        }
    }
}
