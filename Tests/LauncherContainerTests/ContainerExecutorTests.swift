import Foundation
import LauncherCore
import LauncherTestSupport
import Logging
import Testing

@testable import LauncherStages

@Suite struct ContainerExecutorTests {
    @Test func aWorkflowWhoseContainerExistsIsNotStartedTwice() async throws {
        try Podman.check()
        let home = try TestFiles.temporaryFolder("ctr")
        let context = StageContext(
            workloadUUID: UUID(), project: "t", logger: Logger(label: "t"), environment: LauncherEnvironment(home: home))
        let executor = try StageRegistry.builtin.makeExecutor(["name": "Container", "image": .string(Podman.image), "command": "sleep 5"])
        let request = LaunchRequest(uuid: UUID(), inputs: [:], attempt: 1, overrides: [:], submission: nil, mayExist: false)
        guard case .launched? = try await executor.submit([request], context: context)[request.uuid] else {
            Issue.record("not launched")
            return
        }
        // The launcher crashed before recording that: the next attempt says mayExist.
        var again = request
        again.mayExist = true
        guard case .launched(let found)? = try await executor.submit([again], context: context)[request.uuid] else {
            Issue.record("not found")
            return
        }
        #expect(found.externalID == "wfl-\(request.uuid.uuidString.lowercased())")
        let containers = try await Podman.containers(workload: context.workloadUUID.uuidString.lowercased())
        #expect(containers == ["wfl-\(request.uuid.uuidString.lowercased())"])
        _ = try await Podman.run(["rm", "--force"] + containers)
    }

    @Test func configurationErrorsNameTheField() {
        let cases: [(JSONObject, String)] = [
            (["command": "x"], "executor.image"),
            (["image": "tiny"], "executor.command"),
            (["image": "bad image", "command": "x"], "executor.image"),
            (["image": "tiny", "command": "x", "mounts": ["relative:/x"]], "executor.mounts[0]"),
            (["image": "tiny", "command": "x", "mounts": ["/nonexistent/dir:/x"]], "executor.mounts[0]"),
            (["image": "tiny", "command": "x", "mounts": ["/tmp:/x:rx"]], "executor.mounts[0]"),
            (["image": "tiny", "command": "x", "memory": "lots"], "executor.memory"),
            (["image": "tiny", "command": "x", "cpus": 0], "executor.cpus"),
            (["image": "tiny", "command": "x", "timeout": -5], "executor.timeout"),
            (["image": "tiny", "command": "x", "runtime": "lxc"], "executor.runtime"),
            (["image": "tiny", "command": "x", "pull": "always"], "executor.pull"),
            (["image": "tiny", "command": "x", "network": "a b"], "executor.network"),
            (["image": "tiny", "command": "x", "user": "root user"], "executor.user"),
            (["image": "tiny", "command": "x", "privileged": true], "executor.privileged"),
        ]
        for (fields, field) in cases {
            var config = fields
            config["name"] = "Container"
            do {
                _ = try StageRegistry.builtin.makeExecutor(.object(config))
                Issue.record("accepted \(fields)")
            } catch let error as LauncherError {
                #expect(error.details["field"]?.stringValue == field, "\(fields): \(error.message)")
            } catch { Issue.record("\(error)") }
        }
    }

    @Test func anUnusableRuntimeIsRejectedAtCreate() async throws {
        do {
            _ = try await ContainerRuntime.detect("docker", timeout: .seconds(20))
            // docker may work on another machine; here only its client exists.
        } catch let error as LauncherError {
            #expect(error.details["field"] == "executor.runtime")
            #expect(error.message.contains("docker does not work here"))
        }
    }
}
