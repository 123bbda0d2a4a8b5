import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

func container(_ fields: JSONObject) -> JSONValue {
    var config: JSONObject = ["name": "Container", "image": .string(Podman.image), "pull": "never"]
    config.merge(fields) { _, new in new }
    return .object(config)
}

/// Workloads on real podman (runc), with the tiny image scripts/container-up.sh builds.
@Suite struct ContainerWorkloadTests {
    @Test func successWithOutputsIsDeliveredAndContainersAreRemoved() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let out = launcher.home.appendingPathComponent("out")
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(3),
                    executor: container(["command": #"printf '{"square": %d, "inside": "%s"}' $((n * n)) "$(hostname)" > "$WFL_OUTPUTS""#]),
                    sink: ["name": "Directory", "path": .string(out.path)]), start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120))
            #expect(done.counts == [.succeeded: 3])
            for workflow in try await launcher.allWorkflows(view.record.uuid) {
                let n = workflow.inputs["n"]?.intValue ?? -1
                #expect(workflow.outputs?["square"]?.intValue == n * n)
                #expect(workflow.details["exitCode"] == 0)
                let delivered = try JSONValue.parse(
                    Data(contentsOf: out.appendingPathComponent("\(workflow.uuid.uuidString.lowercased()).json")))
                #expect(delivered["outputs"]?["square"]?.intValue == n * n)
            }
            #expect(
                try await Podman.containers(workload: view.record.uuid.uuidString.lowercased()).isEmpty,
                "containers are removed once their results are recorded")
        }
    }

    @Test func nonZeroExitAndMemoryLimitAndMissingImage() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let failing = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1), executor: container(["command": "echo 'no reference genome' >&2; exit 3"])),
                start: true)
            let hungry = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1),
                    executor: container(["command": #"x=$(head -c 100000000 /dev/zero | tr '\0' a); echo survived"#, "memory": "20m"])),
                start: true)
            let missing = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1), executor: container(["command": "true", "image": "localhost/no-such-image:1"])),
                start: true)
            for uuid in [failing, hungry, missing].map(\.record.uuid) {
                #expect(try await launcher.runUntilFinished(uuid, timeout: .seconds(120)).counts == [.failed: 1])
            }
            let exit3 = try #require(try await launcher.allWorkflows(failing.record.uuid).first)
            #expect(exit3.error?.message == "command exited with code 3: no reference genome")
            #expect(exit3.error?.kind == .workflow)
            let oom = try #require(try await launcher.allWorkflows(hungry.record.uuid).first)
            #expect(
                oom.error?.message == "out of memory: killed at the container's memory limit (memory=20m); exit code 137",
                "\(oom.error?.message ?? "")")
            // conmon's marker lands in the workflow's folder, not in the launcher's working folder.
            #expect(FileManager.default.fileExists(atPath: oom.details["workDir"]?.stringValue.map { $0 + "/oom" } ?? ""))
            #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/oom"))
            let noImage = try #require(try await launcher.allWorkflows(missing.record.uuid).first)
            #expect(noImage.error?.kind == .infrastructure)
            #expect(noImage.error?.message.contains("could not start the container (exit 125)") == true, "\(noImage.error?.message ?? "")")
            #expect(noImage.error?.message.contains("no-such-image") == true)
        }
    }

    @Test func aTimeoutStopsTheContainerAndFailsIt() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1), executor: container(["command": "sleep 600", "timeout": 1])), start: true)
            // Far sooner than the command would end by itself (podman on a loaded machine takes its time).
            let started = Date()
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(300))
            #expect(done.counts == [.failed: 1])
            #expect(Date().timeIntervalSince(started) < 300)
            let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            #expect(workflow.error?.message == "timeout: ran longer than 1s and was stopped")
            #expect(try await Podman.containers(workload: view.record.uuid.uuidString.lowercased()).isEmpty)
        }
    }

    @Test func abortStopsRunningContainers() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(3), executor: container(["command": "sleep 300", "maxParallel": 2])), start: true)
            try await launcher.updateUntil(view.record.uuid, "two running") { $0.counts[.running] == 2 }
            let aborted = try await launcher.service.abort(view.record.uuid)
            #expect(aborted.counts == [.aborted: 3])
            #expect(aborted.record.finished != nil)
            #expect(try await Podman.containers(workload: view.record.uuid.uuidString.lowercased()).isEmpty)
        }
    }

    @Test func mountsLetTheCommandReadAnInputFileAndWriteAnOutputTheSinkDelivers() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let input = launcher.home.appendingPathComponent("in")
            let output = launcher.home.appendingPathComponent("results")
            let delivered = launcher.home.appendingPathComponent("delivered")
            try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            try "ACGTACGT\nACGT\n".write(to: input.appendingPathComponent("reads.fa"), atomically: true, encoding: .utf8)
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["file": "reads.fa"]]],
                    executor: container([
                        "command":
                            #"tr -cd ACGT < /input/{{file}} | wc -c > /results/{{file}}.bases; printf '{"bases": "/results/%s.bases"}' {{file}} > "$WFL_OUTPUTS""#,
                        "mounts": [.string("\(input.path):/input:ro"), .string("\(output.path):/results")],
                    ]),
                    sink: ["name": "Directory", "path": .string(delivered.path)]), start: true)
            #expect(try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120)).counts == [.succeeded: 1])
            let bases = try String(contentsOf: output.appendingPathComponent("reads.fa.bases"), encoding: .utf8)
            #expect(bases.trimmingCharacters(in: .whitespacesAndNewlines) == "12")
            let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            let document = try JSONValue.parse(
                Data(contentsOf: delivered.appendingPathComponent("\(workflow.uuid.uuidString.lowercased()).json")))
            #expect(document["outputs"]?["bases"] == "/results/reads.fa.bases")
            // Read-only really is read-only.
            let writer = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1),
                    executor: container(["command": "echo x > /input/new", "mounts": [.string("\(input.path):/input:ro")]])),
                start: true)
            #expect(try await launcher.runUntilFinished(writer.record.uuid, timeout: .seconds(120)).counts == [.failed: 1])
            #expect(!FileManager.default.fileExists(atPath: input.appendingPathComponent("new").path))
        }
    }

    @Test func maxParallelIsRespected() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let logs = launcher.home.appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(6),
                    executor: container([
                        "command": "echo start >> /logs/events; sleep 1; echo end >> /logs/events",
                        "mounts": [.string("\(logs.path):/logs")], "maxParallel": 2,
                    ])), start: true)
            #expect(
                try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120), pause: .milliseconds(20)).counts == [
                    .succeeded: 6
                ])
            var running = 0, peak = 0
            for line in try String(contentsOf: logs.appendingPathComponent("events"), encoding: .utf8).split(separator: "\n") {
                running += line == "start" ? 1 : -1
                peak = max(peak, running)
            }
            #expect(peak == 2)
        }
    }

    @Test func aRestartedLauncherPicksUpRunningContainersAndStartsNoneTwice() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let logs = launcher.home.appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(3),
                    executor: container([
                        "command": "echo {{n}} >> /logs/runs; sleep 2", "mounts": [.string("\(logs.path):/logs")], "maxParallel": 3,
                    ])),
                start: true)
            _ = try await launcher.updater.update(workloadID: view.record.id)
            #expect(try await launcher.service.workload(view.record.uuid).counts[.submitted] == 3)
            try await launcher.withSecondUpdater { second in
                for _ in 0..<300 where try await launcher.service.workload(view.record.uuid).record.finished == nil {
                    _ = try await second.update(workloadID: view.record.id)
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(try await launcher.service.workload(view.record.uuid).counts == [.succeeded: 3])
            let runs = try String(contentsOf: logs.appendingPathComponent("runs"), encoding: .utf8).split(separator: "\n").sorted()
            #expect(runs == ["0", "1", "2"])
        }
    }

    @Test func retryOfFailedWorkflowsWithMoreMemory() async throws {
        try Podman.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(2),
                    executor: container(["command": #"x=$(head -c 60000000 /dev/zero | tr '\0' a); echo ok"#, "memory": "20m"])),
                start: true)
            #expect(try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120)).counts == [.failed: 2])
            #expect(try await launcher.allWorkflows(view.record.uuid).allSatisfy { $0.error?.message.hasPrefix("out of memory") == true })
            let retried = try await launcher.service.retry(
                view.record.uuid, request: ["status": "Failed", "overrides": ["memory": "400m"]])
            #expect(retried.count == 2 && retried.allSatisfy { $0.overrides == ["memory": "400m"] })
            #expect(try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120)).counts == [.succeeded: 2])
        }
    }
}
