import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import Testing

@Suite struct WESCrashTests {
    @Test func aCrashBetweenSubmitAndTheDatabaseWriteMakesNoDuplicateRun() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let file = try writeRequest(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["name": "one"], ["name": "two"]]],
                    executor: [
                        "name": "WES", "url": .string(WESServer.url), "workflowUrl": .string("file://\(WESServer.tool("greet.cwl"))"),
                        "workflowType": "CWL", "workflowTypeVersion": "v1.2", "pollSeconds": 0.5,
                    ]),
                in: launcher.home)
            let uuid = try #require(try await wfl.json(["exec", file])["uuid"]?.stringValue)
            let crashed = try await wfl.run(["update"], extra: ["WFL_FAULT": "after-submit"])
            #expect(crashed.status == 97, "\(crashed.stderr)")
            for _ in 0..<120 {
                try await wfl.run(["update"])
                if try await wfl.json(["workloads", uuid])["finished"] != nil { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            let workflows = try await wfl.json(["workflows", uuid]).arrayValue ?? []
            #expect(workflows.count == 2 && workflows.allSatisfy { $0["status"] == "Succeeded" }, "\(workflows)")
            for workflow in workflows {
                let id = try #require(workflow["uuid"]?.stringValue)
                let runs = try await WESServer.runs(taggedWith: id)
                #expect(runs.count == 1, "workflow \(id) has runs \(runs)")
                #expect(runs.first == workflow["externalId"]?.stringValue)
            }
        }
    }
}
