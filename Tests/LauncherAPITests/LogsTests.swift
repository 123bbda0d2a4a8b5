import Foundation
import HTTPTypes
import LauncherCore
import LauncherTestSupport
import Testing

@testable import LauncherAPI

/// `GET /api/v1/workload/{uuid}/workflows/{workflow}/logs` and `GET /api/v1/workflow/{uuid}`.
@Suite struct LogsAPITests {
    @Test func aWorkflowsOutputIsReadWhereItsExecutorKeepsIt() async throws {
        try await withAPI { client, launcher in
            let work = try TestFiles.temporaryFolder("logs-api")
            let command = "for i in $(seq 1 300); do echo out-{{n}}-$i; done; echo err-one >&2; printf 'err-two' >&2"
            let created = try await client.call(
                .post, "/api/v1/exec", request(2, executor: ["name": "Local", "command": .string(command), "workDir": .string(work.path)]))
            let uuid = try #require(created.json["uuid"]?.stringValue)
            _ = try await launcher.runUntilFinished(try #require(UUID(uuidString: uuid)))
            let workflows = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?limit=10").json.arrayValue ?? []
            let first = try #require(workflows.first { $0["inputs"]?["n"] == 0 }?["uuid"]?.stringValue)
            let logs = "/api/v1/workload/\(uuid)/workflows/\(first)/logs"

            let tail = try await client.call(.get, logs)
            #expect(tail.status == .ok && tail.headers[.contentType]?.hasPrefix("text/plain") == true, "\(tail.status)")
            let lines = tail.text.split(separator: "\n")
            #expect(
                lines.count == 100 && lines.first == "out-0-201" && lines.last == "out-0-300", "\(lines.prefix(2)) … \(lines.suffix(1))")
            let size = try #require(tail.headers[HTTPField.Name("X-Log-Size")!].flatMap { Int($0) })
            #expect(tail.headers[HTTPField.Name("X-Log-Truncated")!] == "true")
            #expect(tail.headers[HTTPField.Name("X-Log-Start")!].flatMap { Int($0) } == size - tail.text.utf8.count)
            #expect(tail.headers[HTTPField.Name("X-Log-End")!] == String(size))

            let stderr = try await client.call(.get, "\(logs)?stream=stderr&tail=1")
            #expect(stderr.text == "err-two" && stderr.headers[HTTPField.Name("X-Log-Truncated")!] == "true", "\(stderr.text)")
            let whole = try await client.call(.get, "\(logs)?stream=stderr&tail=5")
            #expect(whole.text == "err-one\nerr-two" && whole.headers[HTTPField.Name("X-Log-Truncated")!] == "false", "\(whole.text)")
            let rest = try await client.call(.get, "\(logs)?from=\(size - 10)")
            #expect(
                rest.text == "out-0-300\n".suffix(10) && rest.headers[HTTPField.Name("X-Log-Start")!] == String(size - 10), "\(rest.text)")
            let past = try await client.call(.get, "\(logs)?from=\(size + 1000)")
            #expect(past.status == .ok && past.text.isEmpty)

            // The workflow on its own names its workload.
            let alone = try await client.call(.get, "/api/v1/workflow/\(first)")
            #expect(alone.status == .ok && alone.json["workload"] == .string(uuid) && alone.json["inputs"]?["n"] == 0, "\(alone.json)")

            // Bad parameters name themselves; another workload's workflow, or none, is a 404.
            for (query, field) in [
                ("stream=stdin", "stream"), ("tail=0", "tail"), ("tail=10001", "tail"), ("from=-1", "from"), ("tail=5&from=0", "tail"),
            ] {
                let reply = try await client.call(.get, "\(logs)?\(query)")
                #expect(reply.status == .badRequest && reply.json["details"]?["field"] == .string(field), "\(query): \(reply.json)")
            }
            let other = try await client.call(.post, "/api/v1/exec", request(1))
            let otherUUID = try #require(other.json["uuid"]?.stringValue)
            let elsewhere = try await client.call(.get, "/api/v1/workload/\(otherUUID)/workflows/\(first)/logs")
            #expect(
                elsewhere.status == .notFound && elsewhere.json["message"]?.stringValue?.contains("No workflow") == true,
                "\(elsewhere.json)")
            #expect(try await client.call(.get, "/api/v1/workflow/\(UUID().uuidString)").status == .notFound)
            let badWorkflow = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows/nope/logs")
            #expect(badWorkflow.status == .badRequest && badWorkflow.json["details"]?["field"] == "workflow", "\(badWorkflow.json)")

            // Mock keeps no logs: a 404 that says so.
            _ = try await launcher.runUntilFinished(try #require(UUID(uuidString: otherUUID)))
            let mockWorkflow = try #require(
                try await client.call(.get, "/api/v1/workload/\(otherUUID)/workflows").json.arrayValue?.first?["uuid"]?.stringValue)
            let none = try await client.call(.get, "/api/v1/workload/\(otherUUID)/workflows/\(mockWorkflow)/logs")
            #expect(none.status == .notFound && none.json["message"]?.stringValue?.contains("keeps no logs") == true, "\(none.json)")

            // A job that swaps its log, or its folder, for a link to another file gets nothing read.
            let folder = work.appendingPathComponent(uuid).appendingPathComponent(first)
            let stdout = folder.appendingPathComponent("stdout.log").path
            try FileManager.default.removeItem(atPath: stdout)
            try FileManager.default.createSymbolicLink(atPath: stdout, withDestinationPath: "/etc/passwd")
            let linked = try await client.call(.get, logs)
            #expect(linked.status == .conflict && !linked.text.contains("root:"), "\(linked.status) \(linked.text.prefix(80))")
            let second = try #require(workflows.first { $0["inputs"]?["n"] == 1 }?["uuid"]?.stringValue)
            let secondFolder = work.appendingPathComponent(uuid).appendingPathComponent(second)
            try FileManager.default.removeItem(at: secondFolder)
            try FileManager.default.createSymbolicLink(atPath: secondFolder.path, withDestinationPath: "/etc")
            let linkedFolder = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows/\(second)/logs")
            #expect(linkedFolder.status == .conflict && linkedFolder.json["message"]?.stringValue?.contains("symbolic link") == true)
        }
    }
}
