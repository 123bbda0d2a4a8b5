import Foundation
import LauncherCore
import LauncherTestSupport
import Logging
import Testing

@testable import LauncherStages

@Suite struct MockExecutorTests {
    let context = StageContext(
        workloadUUID: UUID(), project: "t", logger: Logger(label: "t"),
        environment: LauncherEnvironment(home: URL(fileURLWithPath: "/tmp")))

    func request(_ inputs: JSONObject) -> LaunchRequest {
        LaunchRequest(uuid: UUID(), inputs: inputs, attempt: 1, overrides: [:], submission: nil, mayExist: false)
    }

    @Test func instantMockSucceedsWithOutputsEqualToInputsOrFailsByRule() async throws {
        let mock = try StageRegistry.builtin.makeExecutor(["name": "Mock", "failWhen": ["sample": "bad", "lane": 2]])
        let good = request(["sample": "bad", "lane": 1])
        let bad = request(["sample": "bad", "lane": 2.0, "extra": true])
        let outcomes = try await mock.submit([good, bad], context: context)
        guard case .launched(let g)? = outcomes[good.uuid], case .launched(let b)? = outcomes[bad.uuid] else {
            Issue.record("not launched")
            return
        }
        #expect(g.status == .succeeded && g.outputs == good.inputs)
        #expect(b.status == .failed && b.error?.message.contains("failWhen") == true)
    }

    @Test func delayedMockRunsThenFinishesAndSaysWhenToLookAgain() async throws {
        let mock = try StageRegistry.builtin.makeExecutor(["name": "Mock", "delaySeconds": 60])
        let r = request(["x": 1])
        guard case .launched(let l)? = try await mock.submit([r], context: context)[r.uuid] else {
            Issue.record("no launch")
            return
        }
        #expect(l.status == .running)
        let now = Date()
        let early = ActiveWorkflow(
            uuid: r.uuid, status: .running, externalID: nil, submission: nil, attempt: 1,
            overrides: [:], details: l.details, submitted: now)
        let notYet = try await mock.poll([early], context: context)
        #expect(notYet.updates.isEmpty)
        #expect(abs((notYet.nextPoll ?? .distantPast).timeIntervalSince(now.addingTimeInterval(60))) < 1)
        var late = early
        late.submitted = now.addingTimeInterval(-61)
        let done = try await mock.poll([late], context: context)
        #expect(done.updates.first?.status == .succeeded)
        #expect(done.updates.first?.outputs == ["x": 1])
    }

    @Test func badConfigIsRejectedNamingTheField() {
        for (config, field) in [
            (["name": "Mock", "delaySeconds": -1], "executor.delaySeconds"),
            (["name": "Mock", "delaySeconds": "soon"], "executor.delaySeconds"),
            (["name": "Mock", "failWhen": [1]], "executor.failWhen"),
            (["name": "Mock", "delay": 1], "executor.delay"),
        ] as [(JSONValue, String)] {
            do {
                _ = try StageRegistry.builtin.makeExecutor(config)
                Issue.record("accepted \(config)")
            } catch let error as LauncherError {
                #expect(error.details["field"]?.stringValue == field)
            } catch { Issue.record("\(error)") }
        }
    }
}

@Suite struct DirectorySinkTests {
    @Test func writesOneCompleteJSONFilePerWorkflowAndOverwritesOnRedelivery() async throws {
        let folder = try TestFiles.temporaryFolder("sink").appendingPathComponent("out")
        let sink = try StageRegistry.builtin.makeSink(["name": "Directory", "path": .string(folder.path)])
        let context = StageContext(
            workloadUUID: UUID(), project: "t", logger: Logger(label: "t"),
            environment: LauncherEnvironment(home: folder))
        try await sink.validateRemotely(context)
        let workflow = DeliverableWorkflow(
            uuid: UUID(), status: .succeeded, attempt: 2, externalID: "job-1", submission: "s",
            inputs: ["a": 1], outputs: ["b": "x"], details: ["exitCode": 0], created: Date(),
            submitted: Date(), finished: Date())
        #expect(try await sink.deliver([workflow], context: context) == [workflow.uuid: .delivered])
        #expect(try await sink.deliver([workflow], context: context) == [workflow.uuid: .delivered])
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(files == ["\(workflow.uuid.uuidString.lowercased()).json"])
        let document = try JSONValue.parse(try Data(contentsOf: folder.appendingPathComponent(files[0])))
        #expect(document["outputs"] == ["b": "x"])
        #expect(document["inputs"] == ["a": 1])
        #expect(document["status"] == "Succeeded")
        #expect(document["attempt"] == 2)
        #expect(document["finished"]?.stringValue?.hasSuffix("Z") == true)
    }

    @Test func aPathThatIsAFileIsRejected() throws {
        let file = try TestFiles.temporaryFolder("sinkfile").appendingPathComponent("f")
        FileManager.default.createFile(atPath: file.path, contents: Data())
        #expect(throws: LauncherError.self) { try StageRegistry.builtin.makeSink(["name": "Directory", "path": .string(file.path)]) }
        #expect(throws: LauncherError.self) { try StageRegistry.builtin.makeSink(["name": "Directory"]) }
    }
}
