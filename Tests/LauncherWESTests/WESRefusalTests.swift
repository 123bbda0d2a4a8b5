import Foundation
import HTTPTypes
import Hummingbird
import LauncherCore
import LauncherPostgres
import LauncherStages
import LauncherTestSupport
import Testing

/// The reference server answers a malformed submission with 500 and never refuses a well-formed
/// one, so the 4xx path runs against a stand-in that answers as a WES server that refuses does
/// (`{"msg", "status_code"}`), and records the Authorization header it was sent.
final class Headers: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []
    func add(_ value: String) {
        lock.lock()
        values.append(value)
        lock.unlock()
    }
    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}

@Suite struct WESRefusalTests {
    @Test func aRefusedSubmissionFailsTheWorkflowWithTheServersMessageAndTheTokenIsSent() async throws {
        let headers = Headers()
        let router = Router()
        router.get("ga4gh/wes/v1/service-info") { request, _ in
            headers.add(request.headers[.authorization] ?? "")
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(string: #"{"workflow_type_versions": {"CWL": {"workflow_type_version": ["v1.2"]}}}"#)))
        }
        router.post("ga4gh/wes/v1/runs") { request, _ in
            headers.add(request.headers[.authorization] ?? "")
            return Response(
                status: .forbidden, headers: [.contentType: "application/json"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(string: #"{"msg": "user lacks permission on project genomics-prod", "status_code": 403}"#)))
        }
        let port = Int.random(in: 30_000..<60_000)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        setenv("WFL_TEST_WES_TOKEN", "s3cret", 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            defer { group.cancelAll() }
            try await Task.sleep(for: .milliseconds(500))
            // The operator lets configurations name this variable as a token.
            try await TestLauncher.with(settings: ["WFL_SECRET_VARIABLES": "WFL_TEST_WES_TOKEN"]) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: TestLauncher.items(1),
                        executor: [
                            "name": "WES", "url": .string("http://127.0.0.1:\(port)"), "workflowUrl": "https://example.org/wf.cwl",
                            "workflowType": "CWL", "workflowTypeVersion": "v1.2", "tokenEnv": "WFL_TEST_WES_TOKEN",
                        ]),
                    start: true)
                #expect(view.record.executorConfig["tokenEnv"] == "WFL_TEST_WES_TOKEN")
                #expect(!view.json.description.contains("s3cret"), "the token itself is never stored")
                let done = try await launcher.runUntilFinished(view.record.uuid)
                #expect(done.counts == [.failed: 1])
                let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
                #expect(
                    workflow.error?.message == "the WES server refused the run (HTTP 403): user lacks permission on project genomics-prod")
                #expect(workflow.error?.kind == .workflow)
            }
        }
        #expect(!headers.all.isEmpty && headers.all.allSatisfy { $0 == "Bearer s3cret" })
    }

    @Test func configurationErrorsNameTheField() {
        let base: JSONObject = [
            "name": "WES", "url": "http://wes.example.org", "workflowUrl": "https://x/wf.cwl",
            "workflowType": "CWL", "workflowTypeVersion": "v1.2",
        ]
        let cases: [(JSONObject, String)] = [
            (["url": "ftp://x"], "executor.url"),
            (["url": nil], "executor.url"),
            (["workflowUrl": nil], "executor.workflowUrl"),
            (["workflowAttachment": "/nonexistent/wf.cwl", "workflowUrl": nil], "executor.workflowAttachment"),
            (["workflowType": nil], "executor.workflowType"),
            (["tokenEnv": "NO_SUCH_VARIABLE_FOR_WFL"], "executor.tokenEnv"),
            (["tokenEnv": "bad name"], "executor.tokenEnv"),
            (["tokenFile": "/nonexistent/token"], "executor.tokenFile"),
            (["tags": ["wfl_workflow": "x"]], "executor.tags.wfl_workflow"),
            (["tags": ["a": 1]], "executor.tags.a"),
            (["requestTimeoutSeconds": 0], "executor.requestTimeoutSeconds"),
            (["token": "s3cret"], "executor.token"),
        ]
        for (change, field) in cases {
            var config = base
            for (key, value) in change { config[key] = value }
            config = config.compacted
            do {
                _ = try StageRegistry.builtin.makeExecutor(.object(config))
                Issue.record("accepted \(change)")
            } catch let error as LauncherError {
                #expect(error.details["field"]?.stringValue == field, "\(change): \(error.message)")
            } catch { Issue.record("\(error)") }
        }
        let normalised = try? StageRegistry.builtin.makeExecutor(.object(base))
        #expect(normalised?.storedConfig["url"] == "http://wes.example.org/ga4gh/wes/v1")
    }
}
