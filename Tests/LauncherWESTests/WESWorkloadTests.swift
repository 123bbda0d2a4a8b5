import AsyncHTTPClient
import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import NIOCore
import Testing

func wesExecutor(_ tool: String, _ fields: JSONObject = [:]) -> JSONValue {
    var config: JSONObject = [
        "name": "WES", "url": .string(WESServer.url), "workflowUrl": .string("file://\(WESServer.tool(tool))"),
        "workflowType": "CWL", "workflowTypeVersion": "v1.2", "pollSeconds": 0.5,
    ]
    config.merge(fields) { _, new in new }
    return .object(config)
}

/// Workloads on a real WES server (wes-service + cwltool). Serialized: one test stops the server.
@Suite(.serialized) struct WESWorkloadTests {
    @Test func successWithOutputsDeliveredByTheDirectorySink() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            let out = launcher.home.appendingPathComponent("out")
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["name": "ada"], ["name": "grace"]]],
                    executor: wesExecutor("greet.cwl", ["tags": ["study": "wes-test"]]),
                    sink: ["name": "Directory", "path": .string(out.path)]), start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120), pause: .milliseconds(300))
            #expect(done.counts == [.succeeded: 2])
            for workflow in try await launcher.allWorkflows(view.record.uuid) {
                let path = try #require(workflow.outputs?["greeting"]?["path"]?.stringValue)
                let greeting = try String(contentsOfFile: path, encoding: .utf8)
                #expect(greeting == "hello \(workflow.inputs["name"]?.stringValue ?? "")\n")
                let delivered = try JSONValue.parse(
                    Data(contentsOf: out.appendingPathComponent("\(workflow.uuid.uuidString.lowercased()).json")))
                #expect(delivered["outputs"]?["greeting"]?["path"]?.stringValue == path)
                // The run carries the launcher's tags (its idempotency key) and the configured ones.
                let run = try await WESServer.run(try #require(workflow.externalID))
                #expect(run["request"]?["tags"]?["wfl_workflow"]?.stringValue == workflow.uuid.uuidString.lowercased())
                #expect(run["request"]?["tags"]?["study"] == "wes-test")
                #expect(run["request"]?["workflow_params"]?["name"] == workflow.inputs["name"])
            }
        }
    }

    /// A CWL `float` of 3.0 reaches the server as a float (not the int 3), an integer beyond
    /// 64 bits keeps its digits, and both come back as outputs unchanged.
    @Test func numbersReachTheServerAndComeBackAsWritten() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            let request = try JSONValue.parse(
                """
                {"project": "numbers", "source": {"name": "Items", "items": [{"float": 3.0, "big": 9223372036854775808}]},
                 "executor": \(wesExecutor("echo-numbers.cwl")), "sink": {"name": "None"}}
                """)
            let view = try await launcher.service.create(request, start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120), pause: .milliseconds(300))
            #expect(done.counts == [.succeeded: 1], "\(done.record.lastError ?? "")")
            let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            let run = try await WESServer.run(try #require(workflow.externalID))
            #expect(run["request"]?["workflow_params"]?["float"]?.description == "3.0")
            #expect(run["request"]?["workflow_params"]?["big"]?.description == "9223372036854775808")
            #expect(workflow.outputs?["float_out"]?.description == "3.0")
            #expect(workflow.outputs?["big_out"]?.description == "9223372036854775808")
        }
    }

    /// A workflow that runs a tool from a sibling folder: the whole folder is attached, each
    /// file under its relative path, so the server finds `tools/greet.cwl` beside `main.cwl`.
    @Test func anAttachedFolderKeepsItsRelativePaths() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["name": "ada"]]],
                    executor: [
                        "name": "WES", "url": .string(WESServer.url), "workflowAttachment": .string(WESServer.tool("pipeline")),
                        "workflowUrl": "main.cwl", "workflowType": "CWL", "workflowTypeVersion": "v1.2", "pollSeconds": 0.5,
                    ]),
                start: true)
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120), pause: .milliseconds(300))
            let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            #expect(done.counts == [.succeeded: 1], "\(workflow.error?.message ?? "") \(workflow.details["stderr"] ?? .null)")
            let path = try #require(workflow.outputs?["greeting"]?["path"]?.stringValue)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello ada from a sibling tool\n")
        }
    }

    @Test func aToolThatExitsNonZeroFailsWithItsExitCodeAndStderr() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["name": "nobody", "code": 3]]], executor: wesExecutor("greet.cwl")),
                start: true)
            #expect(
                try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120), pause: .milliseconds(300)).counts == [
                    .failed: 1
                ])
            let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            #expect(workflow.error?.kind == .workflow)
            #expect(workflow.error?.message.hasPrefix("EXECUTOR_ERROR: exit code") == true, "\(workflow.error?.message ?? "")")
            #expect(workflow.details["stderr"]?.stringValue?.contains("cannot greet nobody") == true)
            #expect(workflow.details["wesState"] == "EXECUTOR_ERROR")
        }
    }

    @Test func cancelOfARunningRun() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["seconds": 120]]], executor: wesExecutor("sleep.cwl")), start: true)
            try await launcher.updateUntil(view.record.uuid, timeout: .seconds(60), "the run to start") { $0.counts[.running] == 1 }
            let run = try #require(try await launcher.allWorkflows(view.record.uuid).first?.externalID)
            _ = try await launcher.service.abort(view.record.uuid)
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(60), pause: .milliseconds(300))
            #expect(done.counts == [.aborted: 1])
            #expect(try await WESServer.run(run)["state"] == "CANCELED")
        }
    }

    @Test func anUnsupportedWorkflowTypeOrVersionIsRefusedAtCreate() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            for (fields, field, text) in [
                (["workflowType": "WDL"], "executor.workflowType", "does not run WDL workflows; it supports CWL"),
                (
                    ["workflowTypeVersion": "v9.9"], "executor.workflowTypeVersion",
                    "does not support CWL v9.9; it supports v1.0, v1.1, v1.2"
                ),
                (["url": "http://127.0.0.1:1"], "executor.url", "cannot read service-info"),
            ] as [(JSONObject, String, String)] {
                do {
                    _ = try await launcher.service.create(
                        TestLauncher.request(source: TestLauncher.items(1), executor: wesExecutor("greet.cwl", fields)),
                        start: true)
                    Issue.record("accepted \(fields)")
                } catch let error as LauncherError {
                    #expect(error.details["field"]?.stringValue == field)
                    #expect(error.message.contains(text), "\(error.message)")
                }
            }
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workload") == 0)
        }
    }

    @Test func theServerStoppedMidRunAndRestartedCausesNoFalseFailures() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["seconds": 4], ["seconds": 5]]], executor: wesExecutor("sleep.cwl")),
                start: true)
            try await launcher.updateUntil(view.record.uuid, timeout: .seconds(60), "the runs to start") { $0.counts[.running] == 2 }
            try await WESServer.stop()
            do {
                let outcome = await launcher.updater.updateRecordingErrors(view.record)
                guard case .failed = outcome else { throw TestFailure("the update did not fail while the server was down: \(outcome)") }
                let during = try await launcher.service.workload(view.record.uuid)
                #expect(during.counts == [.running: 2], "a server outage changed workflows")
                #expect(
                    during.record.lastError?.contains("Connection refused") == true || during.record.lastError?.contains("connect") == true,
                    "\(during.record.lastError ?? "no error")")
                try await Task.sleep(for: .seconds(6))  // the runs finish while the server is down
            } catch {
                try await WESServer.start()
                throw error
            }
            try await WESServer.start()
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120), pause: .milliseconds(300))
            #expect(done.counts == [.succeeded: 2])
            #expect(done.record.errorCount == 0)
        }
    }

    @Test func retryOfFailedWorkflowsAfterFixingTheirInput() async throws {
        try WESServer.check()
        try await TestLauncher.with { launcher in
            let marker = launcher.home.appendingPathComponent("reference.fa").path
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["reference": .string(marker)]]], executor: wesExecutor("needs-file.cwl")),
                start: true)
            #expect(
                try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120), pause: .milliseconds(300)).counts == [
                    .failed: 1
                ])
            FileManager.default.createFile(atPath: marker, contents: Data(">chr1\n".utf8))
            let retried = try await launcher.service.retry(view.record.uuid, request: ["status": "Failed"])
            #expect(retried.count == 1)
            #expect(
                try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(120), pause: .milliseconds(300)).counts == [
                    .succeeded: 1
                ])
            let runs = Set(try await launcher.allWorkflows(view.record.uuid, includeRetried: true).compactMap(\.externalID))
            #expect(runs.count == 2, "the retry is a new run")
        }
    }

    @Test func serverErrorsOnSubmitAreRetriedThenSetAside() async throws {
        try WESServer.check()
        let options = UpdaterOptions(concurrency: 2, batchSize: 100, tickBudget: .seconds(5), maxLaunchAttempts: 2)
        try await TestLauncher.with(options: options) { launcher in
            // A relative workflow URL without an attachment makes wes-service fail with HTTP 500.
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: TestLauncher.items(1), executor: wesExecutor("greet.cwl", ["workflowUrl": "not-attached.cwl"])),
                start: true)
            _ = try await launcher.updater.update(workloadID: view.record.id)
            let waiting = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            #expect(waiting.status == .pending)
            #expect(waiting.error?.message.contains("HTTP 500") == true, "\(waiting.error?.message ?? "")")
            let done = try await launcher.runUntilFinished(view.record.uuid, timeout: .seconds(30))
            #expect(done.counts == [.failed: 1])
            let failed = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            #expect(failed.error?.kind == .infrastructure)
            #expect(failed.error?.message.hasPrefix("gave up after 2 launch attempts: HTTP 500") == true, "\(failed.error?.message ?? "")")
        }
    }
}
