import Foundation
import LauncherCore
import NIOHTTP1

/// The Firecloud orchestration and Rawls endpoints the Terra stages use, one method per call.
/// Request and response shapes are Rawls' (`SubmissionRequest`, `Submission`, …).
struct Firecloud: Sendable {
    let services: TerraServices
    let workspace: NamespacedName

    private var firecloudBase: String { "\(services.firecloud)/api/workspaces/\(workspace.path)" }
    private var rawlsBase: String { "\(services.rawls)/api/workspaces/\(workspace.path)" }

    private func call(_ method: HTTPMethod, _ url: String, body: JSONValue? = nil) async throws -> JSONValue {
        try await services.call(method, "Firecloud", url, body: body)
    }

    func describe() async throws -> JSONValue {
        try await call(.GET, firecloudBase)
    }

    // MARK: Method configurations

    func methodConfiguration(_ mc: NamespacedName) async throws -> JSONValue {
        try await call(.GET, "\(firecloudBase)/method_configs/\(mc.path)")
    }

    func createMethodConfiguration(_ body: JSONValue) async throws {
        _ = try await call(.POST, "\(firecloudBase)/methodconfigs", body: body)
    }

    func updateMethodConfiguration(_ mc: NamespacedName, _ body: JSONValue) async throws {
        _ = try await call(.PUT, "\(firecloudBase)/method_configs/\(mc.path)", body: body)
    }

    // MARK: Submissions

    func submit(_ request: JSONObject) async throws -> JSONValue {
        try await call(.POST, "\(firecloudBase)/submissions", body: .object(request))
    }

    /// One call answers for every workflow of the submission (ids, statuses, entities).
    func submission(_ id: String) async throws -> JSONValue {
        try await call(.GET, "\(firecloudBase)/submissions/\(TerraHTTP.escape(id))")
    }

    func submissions() async throws -> [JSONValue] {
        try await call(.GET, "\(firecloudBase)/submissions").arrayValue ?? []
    }

    func abort(_ id: String) async throws {
        _ = try await call(.DELETE, "\(firecloudBase)/submissions/\(TerraHTTP.escape(id))")
    }

    /// Rawls' retry: a new submission of the original's failed and/or aborted workflows.
    func retry(_ id: String, retryType: String) async throws -> JSONValue {
        try await call(.POST, "\(firecloudBase)/submissions/\(TerraHTTP.escape(id))/retry", body: ["retryType": .string(retryType)])
    }

    func setComment(_ id: String, _ comment: String) async throws {
        _ = try await call(.PATCH, "\(firecloudBase)/submissions/\(TerraHTTP.escape(id))", body: ["userComment": .string(comment)])
    }

    func outputs(submission: String, workflow: String) async throws -> JSONValue {
        try await call(.GET, "\(firecloudBase)/submissions/\(TerraHTTP.escape(submission))/workflows/\(TerraHTTP.escape(workflow))/outputs")
    }

    // MARK: Entities

    /// `entityType -> {count, idName, attributeNames}`.
    func entityTypes() async throws -> JSONObject {
        try await call(.GET, "\(firecloudBase)/entities").objectValue ?? [:]
    }

    func batchUpsert(_ entities: [JSONValue]) async throws {
        _ = try await services.call(.POST, "Rawls", "\(rawlsBase)/entities/batchUpsert", body: .array(entities))
    }

    // MARK: Snapshot references

    /// The workspace's reference to a data-repository snapshot, created or (on 409) found.
    func snapshotReference(snapshotID: String, name: String) async throws -> JSONValue {
        do {
            return try await services.call(.POST, "Rawls", "\(rawlsBase)/snapshots/v2",
                                           body: ["snapshotId": .string(snapshotID), "name": .string(name), "description": ""])
        } catch let refused as TerraHTTP.Refused where refused.status == 409 {
            var offset = 0
            while true {
                let page = try await services.call(
                    .GET, "Rawls", "\(rawlsBase)/snapshots/v2?offset=\(offset)&limit=100&referencedSnapshotId=\(TerraHTTP.escape(snapshotID))")
                let references = page["gcpDataRepoSnapshots"]?.arrayValue ?? []
                if let first = references.first { return first }
                if references.count < 100 { break }
                offset += 100
            }
            throw TerraHTTP.Unavailable(description: "Could not create snapshot reference and found no snapshot reference matching the snapshot id \(snapshotID).")
        }
    }
}

/// The Terra Data Repository (TDR) endpoints.
struct DataRepo: Sendable {
    let services: TerraServices

    private var base: String { "\(services.tdr)/api/repository/v1" }

    private func call(_ method: HTTPMethod, _ url: String, body: JSONValue? = nil) async throws -> JSONValue {
        try await services.call(method, "the data repository", url, body: body)
    }

    func dataset(_ id: String) async throws -> JSONValue {
        try await call(.GET, "\(base)/datasets/\(TerraHTTP.escape(id))?include=ACCESS_INFORMATION&include=DATA_PROJECT&include=PROFILE&include=SCHEMA&include=STORAGE")
    }

    func snapshot(_ id: String) async throws -> JSONValue {
        try await call(.GET, "\(base)/snapshots/\(TerraHTTP.escape(id))?include=TABLES")
    }

    /// The snapshot with exactly this name, if any (names are unique in TDR).
    func snapshot(named name: String, dataset: String) async throws -> JSONValue? {
        let page = try await call(.GET, "\(base)/snapshots?filter=\(TerraHTTP.escape(name))&datasetIds=\(TerraHTTP.escape(dataset))&limit=100")
        return page["items"]?.arrayValue?.first { $0["name"]?.stringValue == name }
    }

    /// Starts a snapshot job; returns the job id.
    func createSnapshot(_ request: JSONValue) async throws -> String {
        let job = try await call(.POST, "\(base)/snapshots", body: request)
        guard let id = job["id"]?.stringValue else { throw TerraHTTP.Unavailable(description: "the data repository returned no job id") }
        return id
    }

    /// Starts an ingest job; returns the job id.
    func ingest(dataset: String, _ request: JSONValue) async throws -> String {
        let job = try await call(.POST, "\(base)/datasets/\(TerraHTTP.escape(dataset))/ingest", body: request)
        guard let id = job["id"]?.stringValue else { throw TerraHTTP.Unavailable(description: "the data repository returned no job id") }
        return id
    }

    /// `running`, `succeeded` or `failed` (lower case, as WFL compares them).
    func jobStatus(_ id: String) async throws -> String {
        (try await call(.GET, "\(base)/jobs/\(TerraHTTP.escape(id))")["job_status"]?.stringValue ?? "unknown").lowercased()
    }

    func jobResult(_ id: String) async throws -> JSONValue {
        try await call(.GET, "\(base)/jobs/\(TerraHTTP.escape(id))/result")
    }

    /// A failed job's message, best effort: TDR answers a failed job's result with the job's
    /// error status and `{message, errorDetail}`.
    func jobFailure(_ id: String) async -> String {
        do {
            let (status, reply) = try await services.send(.GET, "\(base)/jobs/\(TerraHTTP.escape(id))/result")
            let details = (reply["errorDetail"]?.arrayValue ?? []).compactMap(\.stringValue)
            guard let message = reply["message"]?.stringValue else { return "HTTP \(status), no message" }
            return String(([message] + details).joined(separator: "; ").prefix(500))
        } catch {
            return "its result could not be read: \(error)"
        }
    }
}

/// BigQuery `jobs.query`, following `jobComplete` and `pageToken` so no row is missed.
struct BigQuery: Sendable {
    let services: TerraServices

    func query(project: String, _ sql: String, parameters: [(String, String)] = []) async throws -> [[String]] {
        let base = "\(services.bigquery)/bigquery/v2/projects/\(TerraHTTP.escape(project))"
        var request: JSONObject = ["query": .string(sql), "useLegacySql": false, "timeoutMs": 30_000, "maxResults": 10_000]
        if !parameters.isEmpty {
            request["parameterMode"] = "NAMED"
            request["queryParameters"] = .array(parameters.map { name, value in
                ["name": .string(name), "parameterType": ["type": "STRING"], "parameterValue": ["value": .string(value)]]
            })
        }
        var response = try await services.call(.POST, "BigQuery", "\(base)/queries", body: .object(request))
        guard let jobID = response["jobReference"]?["jobId"]?.stringValue else {
            throw TerraHTTP.Unavailable(description: "BigQuery returned no jobReference")
        }
        let location = response["jobReference"]?["location"]?.stringValue.map { "&location=\(TerraHTTP.escape($0))" } ?? ""
        var rows: [[String]] = []
        var waited = 0
        while true {
            if response["jobComplete"]?.boolValue == false {
                // Not finished within timeoutMs: ask again (getQueryResults waits server-side too).
                waited += 1
                guard waited <= 20 else { throw TerraHTTP.Unavailable(description: "BigQuery job \(jobID) did not complete") }
                response = try await services.call(.GET, "BigQuery", "\(base)/queries/\(TerraHTTP.escape(jobID))?timeoutMs=30000&maxResults=10000\(location)")
                continue
            }
            for row in response["rows"]?.arrayValue ?? [] {
                rows.append((row["f"]?.arrayValue ?? []).map { $0["v"]?.stringValue ?? "" })
            }
            guard let token = response["pageToken"]?.stringValue, !token.isEmpty else { return rows }
            response = try await services.call(
                .GET, "BigQuery", "\(base)/queries/\(TerraHTTP.escape(jobID))?pageToken=\(TerraHTTP.escape(token))&maxResults=10000\(location)")
        }
    }
}
