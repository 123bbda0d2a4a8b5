import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LauncherAPI
import LauncherCore
import LauncherTestSupport
import Testing

/// WFL's own documented requests, sent to our API: each point here was a difference that broke
/// a WFL client.
@Suite struct WFLCompatibilityTests {
    @Test func plusInAQueryStringIsASpace() async throws {
        try await withAPI { client, launcher in
            var body = request(2).objectValue!
            body["project"] = "My Project"
            let created = try await client.call(.post, "/api/v1/exec", .object(body))
            let uuid = try #require(created.json["uuid"]?.stringValue)
            for query in ["My+Project", "My%20Project"] {
                let listed = try await client.call(.get, "/api/v1/workload?project=\(query)")
                #expect(listed.json.arrayValue?.map { $0["uuid"] } == [.string(uuid)], "\(query): \(listed.json)")
            }
            let literalPlus = try await client.call(.get, "/api/v1/workload?project=My%2BProject")
            #expect(literalPlus.json.arrayValue?.isEmpty == true, "%2B is a plus, not a space")
            _ = try await launcher.runUntilFinished(UUID(uuidString: uuid)!)
            let succeeded = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?status=Succeeded&include+Retried=true")
            #expect(succeeded.json.arrayValue?.count == 2, "\(succeeded.json)")
        }
    }

    @Test func everyCromwellStatusWFLAcceptsIsAFilterAndSubmissionsAreUUIDs() async throws {
        try await withAPI { client, launcher in
            let created = try await client.call(.post, "/api/v1/exec", request(2, executor: ["name": "Mock", "failWhen": ["n": 1]]))
            let uuid = try #require(created.json["uuid"]?.stringValue)
            _ = try await launcher.runUntilFinished(UUID(uuidString: uuid)!)
            for status in ["Aborted", "Aborting", "Failed", "On+Hold", "on%20hold", "Running", "Submitted", "Succeeded"] {
                let reply = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?status=\(status)")
                #expect(reply.status == .ok, "\(status): \(reply.json)")
            }
            let held = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?status=On+Hold")
            #expect(held.json == [], "no backend here holds workflows")

            let workflows = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows")
            let submissions = Set((workflows.json.arrayValue ?? []).compactMap { $0["submission"]?.stringValue })
            #expect(!submissions.isEmpty && submissions.allSatisfy { UUID(uuidString: $0) != nil }, "\(submissions)")
            let submission = try #require(submissions.first)
            let bySubmission = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?submission=\(submission)")
            #expect(bySubmission.json.arrayValue?.count == 2)
            for bad in ["batch-1", "not-a-uuid", String(repeating: "9", count: 100)] {
                let reply = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?submission=\(bad)")
                #expect(reply.status == .badRequest && reply.json["details"]?["field"] == "submission", "\(bad): \(reply.json)")
                let retry = try await client.call(.post, "/api/v1/workload/\(uuid)/retry", ["submission": .string(bad)])
                #expect(retry.status == .badRequest && retry.json["details"]?["field"] == "submission", "\(bad): \(retry.json)")
            }
            // A retry is a submission of its own, also a UUID, and the answer is the workload.
            let retried = try await client.call(.post, "/api/v1/workload/\(uuid)/retry", ["status": "Failed"])
            #expect(retried.status == .ok && retried.json["uuid"]?.stringValue == uuid, "\(retried.json)")
            let again = try #require(retried.json["retried"]?[0]?["submission"]?.stringValue)
            #expect(UUID(uuidString: again) != nil)
            let nothing = try await client.call(.post, "/api/v1/workload/\(uuid)/retry", ["status": "Aborted"])
            #expect(nothing.json["message"] == "No workflows to retry for workload and requested workflow filters.")
        }
    }

    @Test func wflClientsTopLevelFieldsAreAcceptedOrRefusedWithAWay() async throws {
        try await withAPI { client, _ in
            var body = request(1).objectValue!
            body["creator"] = "someone-else@example.org"
            let created = try await client.call(.post, "/api/v1/create", .object(body))
            #expect(created.status == .ok, "\(created.json)")
            #expect(created.json["creator"] == "anonymous", "the body's creator is ignored for the caller's identity")

            var legacy = request(1).objectValue!
            legacy["cromwell"] = "https://cromwell.example.org"
            let refused = try await client.call(.post, "/api/v1/create", .object(legacy))
            #expect(refused.status == .badRequest && refused.json["details"]?["field"] == "cromwell", "\(refused.json)")
            #expect(refused.json["message"]?.stringValue?.contains("\"executor\"") == true)
            #expect(try await client.call(.get, "/api/v1/workload").json.arrayValue?.count == 1, "nothing written")

            var unknown = request(1).objectValue!
            unknown["executor"] = ["name": "Mock", "cromwell": "x"]
            let inside = try await client.call(.post, "/api/v1/create", .object(unknown))
            #expect(
                inside.status == .badRequest && inside.json["details"]?["field"] == "executor.cromwell",
                "unknown fields in stages stay refused")
        }
    }

    @Test func aKnownRouteWithTheWrongMethodIs405WithAllow() async throws {
        try await withAPI { client, _ in
            let reply = try await client.call(.get, "/api/v1/create")
            #expect(reply.status == .methodNotAllowed && reply.headers[.allow] == "POST", "\(reply.json)")
            let tokens = try await client.call(.put, "/api/v1/tokens")
            #expect(tokens.status == .methodNotAllowed && tokens.headers[.allow] == "GET, POST")
        }
    }
}

/// Listings without `limit` return everything, as WFL's do, streamed page by page.
@Suite struct WholeListingTests {
    @Test func withoutALimitEveryRowComesBackInOneArray() async throws {
        try await withAPI { client, launcher in
            // More than two internal pages (1,000 rows each), and not a multiple of one.
            let created = try await client.call(.post, "/api/v1/exec", request(2_345, executor: ["name": "Mock", "failWhen": ["n": 7]]))
            let uuid = try #require(created.json["uuid"]?.stringValue)
            _ = try await launcher.runUntilFinished(UUID(uuidString: uuid)!, timeout: .seconds(300))

            let all = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows")
            #expect(all.status == .ok && all.headers[HTTPField.Name("X-Next-Cursor")!] == nil)
            let rows = all.json.arrayValue ?? []
            #expect(rows.count == 2_345, "\(rows.count) rows")
            #expect(Set(rows.compactMap { $0["uuid"]?.stringValue }).count == 2_345, "no row twice")
            #expect(rows.compactMap { $0["inputs"]?["n"]?.intValue } == Array(0..<2_345).map(Int64.init), "in order, none missing")
            let failed = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?status=Failed")
            #expect(failed.json.arrayValue?.count == 1)
            let events = try await client.call(.get, "/api/v1/workload/\(uuid)/events")
            #expect((events.json.arrayValue?.count ?? 0) >= 3 && events.json[0]?["kind"] == "created")

            // With a limit, pages and cursors as before.
            let page = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?limit=1000")
            #expect(page.json.arrayValue?.count == 1000 && page.headers[HTTPField.Name("X-Next-Cursor")!] != nil)

            // A bad request is refused before anything is sent.
            let missing = try await client.call(.get, "/api/v1/workload/\(UUID().uuidString)/workflows")
            #expect(missing.status == .notFound)
            let bad = try await client.call(.get, "/api/v1/workload/\(uuid)/workflows?status=Done")
            #expect(bad.status == .badRequest && bad.json["details"]?["field"] == "status")

            for _ in 0..<3 { _ = try await client.call(.post, "/api/v1/create", request(1)) }
            let workloads = try await client.call(.get, "/api/v1/workload")
            #expect(workloads.json.arrayValue?.count == 4 && workloads.json[0]?["workflows"]?["total"] == 2_345)
        }
    }
}
