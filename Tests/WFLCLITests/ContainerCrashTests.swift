import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import Testing

@Suite struct ContainerCrashTests {
    @Test func aCrashBetweenContainerStartAndTheDatabaseWriteStartsNoneTwice() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let wfl = WFLBinary(databaseURL: launcher.url, home: launcher.home)
            let logs = launcher.home.appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let file = try writeRequest(
                TestLauncher.request(
                    source: TestLauncher.items(3),
                    executor: [
                        "name": "Container", "image": .string(Podman.image), "pull": "never", "maxParallel": 3,
                        "command": "echo {{n}} >> /logs/runs; sleep 1", "mounts": [.string("\(logs.path):/logs")],
                    ]),
                in: launcher.home)
            let uuid = try #require(try await wfl.json(["exec", file])["uuid"]?.stringValue)
            let crashed = try await wfl.run(["update"], extra: ["WFL_FAULT": "after-submit"])
            #expect(crashed.status == 97, "\(crashed.stderr)")
            #expect(try await wfl.json(["workloads", uuid])["workflows"]?["Pending"] == 3)
            for _ in 0..<60 {
                try await wfl.run(["update"])
                if try await wfl.json(["workloads", uuid])["finished"] != nil { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(try await wfl.json(["workloads", uuid])["workflows"]?["Succeeded"] == 3)
            let runs = try String(contentsOf: logs.appendingPathComponent("runs"), encoding: .utf8).split(separator: "\n").sorted()
            #expect(runs == ["0", "1", "2"])
        }
    }
}
