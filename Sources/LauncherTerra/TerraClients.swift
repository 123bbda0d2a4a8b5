import Foundation
import LauncherCore
import LauncherStageSupport
import NIOHTTP1

/// The Firecloud orchestration and Rawls endpoints the Terra stages use, one method per call.
/// Request and response shapes are Rawls' (`SubmissionRequest`, `Submission`, …).
struct Firecloud: Sendable {
    let services: TerraServices
    let workspace: NamespacedName

    private var firecloudBase: String { "\(services.firecloud)/api/workspaces/\(workspace.path)" }
    private var rawlsBase: String { "\(services.rawls)/api/workspaces/\(workspace.path)" }
    private var firecloudAPI: BackendClient { services.client("Firecloud") }
    private var rawlsAPI: BackendClient { services.client("Rawls") }

    private static func escape(_ text: String) -> String { BackendClient.escape(text) }

    func describe() async throws {
        _ = try await firecloudAPI.json(.GET, firecloudBase)
    }

    // MARK: Method configurations

    func methodConfiguration(_ mc: NamespacedName) async throws -> TerraMethodConfiguration {
        try await firecloudAPI.decode(TerraMethodConfiguration.self, .GET, "\(firecloudBase)/method_configs/\(mc.path)")
    }

    func createMethodConfiguration(_ body: JSONObject) async throws {
        _ = try await firecloudAPI.json(.POST, "\(firecloudBase)/methodconfigs", body: .json(.object(body)))
    }

    func updateMethodConfiguration(_ mc: NamespacedName, _ body: JSONObject) async throws {
        _ = try await firecloudAPI.json(.PUT, "\(firecloudBase)/method_configs/\(mc.path)", body: .json(.object(body)))
    }

    // MARK: Submissions

    func submit(_ request: JSONObject) async throws -> TerraSubmission {
        try await firecloudAPI.decode(TerraSubmission.self, .POST, "\(firecloudBase)/submissions", body: .json(.object(request)))
    }

    /// One call answers for every workflow of the submission (ids, statuses, entities).
    func submission(_ id: String) async throws -> TerraSubmission {
        try await firecloudAPI.decode(TerraSubmission.self, .GET, "\(firecloudBase)/submissions/\(Self.escape(id))")
    }

    func submissions() async throws -> [TerraSubmission] {
        try await firecloudAPI.decode([TerraSubmission].self, .GET, "\(firecloudBase)/submissions")
    }

    func abort(_ id: String) async throws {
        _ = try await firecloudAPI.json(.DELETE, "\(firecloudBase)/submissions/\(Self.escape(id))")
    }

    /// Rawls' retry: a new submission of the original's failed and/or aborted workflows.
    func retry(_ id: String, retryType: String) async throws -> TerraSubmission {
        try await firecloudAPI.decode(
            TerraSubmission.self, .POST, "\(firecloudBase)/submissions/\(Self.escape(id))/retry",
            body: .json(["retryType": .string(retryType)]))
    }

    func setComment(_ id: String, _ comment: String) async throws {
        _ = try await firecloudAPI.json(
            .PATCH, "\(firecloudBase)/submissions/\(Self.escape(id))", body: .json(["userComment": .string(comment)]))
    }

    func outputs(submission: String, workflow: String) async throws -> TerraWorkflowOutputs {
        try await firecloudAPI.decode(
            TerraWorkflowOutputs.self, .GET,
            "\(firecloudBase)/submissions/\(Self.escape(submission))/workflows/\(Self.escape(workflow))/outputs")
    }

    // MARK: Entities

    func entityTypes() async throws -> [String: TerraEntityType] {
        try await firecloudAPI.decode([String: TerraEntityType].self, .GET, "\(firecloudBase)/entities")
    }

    func batchUpsert(_ entities: [JSONValue]) async throws {
        _ = try await rawlsAPI.json(.POST, "\(rawlsBase)/entities/batchUpsert", body: .json(.array(entities)))
    }

    // MARK: Snapshot references

    /// The workspace's reference to a data-repository snapshot, created or (on 409) found.
    func snapshotReference(snapshotID: String, name: String) async throws -> TerraSnapshotReference {
        do {
            return try await rawlsAPI.decode(
                TerraSnapshotReference.self, .POST, "\(rawlsBase)/snapshots/v2",
                body: .json(["snapshotId": .string(snapshotID), "name": .string(name), "description": ""]))
        } catch BackendError.refused(_, 409, _) {
            var offset = 0
            while offset < 100_000 {
                let page = try await rawlsAPI.decode(
                    TerraSnapshotReferencePage.self, .GET,
                    "\(rawlsBase)/snapshots/v2?offset=\(offset)&limit=100&referencedSnapshotId=\(Self.escape(snapshotID))")
                let references = page.gcpDataRepoSnapshots ?? []
                if let first = references.first { return first }
                if references.count < 100 { break }
                offset += 100
            }
            throw BackendError.unavailable(
                service: "Rawls",
                reason: "Could not create snapshot reference and found no snapshot reference matching the snapshot id \(snapshotID).")
        }
    }
}

/// The Terra Data Repository (TDR) endpoints.
struct DataRepo: Sendable {
    let services: TerraServices

    private var base: String { "\(services.tdr)/api/repository/v1" }
    private var api: BackendClient { services.client("the data repository") }

    private static func escape(_ text: String) -> String { BackendClient.escape(text) }

    func dataset(_ id: String) async throws -> TDRDataset {
        try await api.decode(
            TDRDataset.self, .GET,
            "\(base)/datasets/\(Self.escape(id))?include=ACCESS_INFORMATION&include=DATA_PROJECT&include=PROFILE&include=SCHEMA&include=STORAGE"
        )
    }

    func snapshot(_ id: String) async throws -> TDRSnapshot {
        try await api.decode(TDRSnapshot.self, .GET, "\(base)/snapshots/\(Self.escape(id))?include=TABLES")
    }

    /// The snapshot with exactly this name, if any (names are unique in TDR).
    func snapshot(named name: String, dataset: String) async throws -> TDRSnapshot? {
        let page = try await api.decode(
            TDRSnapshotPage.self, .GET,
            "\(base)/snapshots?filter=\(Self.escape(name))&datasetIds=\(Self.escape(dataset))&limit=100")
        return page.items?.first { $0.name == name }
    }

    /// Starts a snapshot job; returns the job id.
    func createSnapshot(_ request: JSONValue) async throws -> String {
        try jobID(try await api.decode(TDRJob.self, .POST, "\(base)/snapshots", body: .json(request)))
    }

    /// Starts an ingest job; returns the job id.
    func ingest(dataset: String, _ request: JSONValue) async throws -> String {
        try jobID(try await api.decode(TDRJob.self, .POST, "\(base)/datasets/\(Self.escape(dataset))/ingest", body: .json(request)))
    }

    private func jobID(_ job: TDRJob) throws -> String {
        guard let id = job.id else {
            throw BackendError.unavailable(service: api.service, reason: "the data repository returned no job id")
        }
        return id
    }

    /// `running`, `succeeded` or `failed` (lower case, as WFL compares them).
    func jobStatus(_ id: String) async throws -> String {
        (try await api.decode(TDRJob.self, .GET, "\(base)/jobs/\(Self.escape(id))").jobStatus ?? "unknown").lowercased()
    }

    func jobResult(_ id: String) async throws -> TDRJobResult {
        try await api.decode(TDRJobResult.self, .GET, "\(base)/jobs/\(Self.escape(id))/result")
    }

    /// A failed job's message, best effort: TDR answers a failed job's result with the job's
    /// error status and `{message, errorDetail}`.
    func jobFailure(_ id: String) async -> String {
        do {
            let reply = try await api.send(.GET, "\(base)/jobs/\(Self.escape(id))/result")
            guard let result = try? JSONValueDecoder.decode(TDRJobResult.self, from: reply.json), let message = result.message else {
                return "HTTP \(reply.status), no message"
            }
            return BackendError.sanitise(([message] + (result.errorDetail ?? [])).joined(separator: "; "), limit: 500)
        } catch {
            return "its result could not be read: \(error)"
        }
    }
}

/// BigQuery `jobs.query`, following `jobComplete` and `pageToken` so no row is missed.
struct BigQuery: Sendable {
    let services: TerraServices

    func query(project: String, _ sql: String, parameters: [(String, String)] = []) async throws -> [[String]] {
        let api = services.client("BigQuery")
        let base = "\(services.bigquery)/bigquery/v2/projects/\(BackendClient.escape(project))"
        var request: JSONObject = ["query": .string(sql), "useLegacySql": false, "timeoutMs": 30_000, "maxResults": 10_000]
        if !parameters.isEmpty {
            request["parameterMode"] = "NAMED"
            request["queryParameters"] = .array(
                parameters.map { name, value in
                    ["name": .string(name), "parameterType": ["type": "STRING"], "parameterValue": ["value": .string(value)]]
                })
        }
        var response = try await api.decode(BigQueryResponse.self, .POST, "\(base)/queries", body: .json(.object(request)))
        guard let jobID = response.jobReference?.jobId else {
            throw BackendError.unavailable(service: "BigQuery", reason: "BigQuery returned no jobReference")
        }
        let location = response.jobReference?.location.map { "&location=\(BackendClient.escape($0))" } ?? ""
        var rows: [[String]] = []
        var waited = 0
        while true {
            if response.jobComplete == false {
                // Not finished within timeoutMs: ask again (getQueryResults waits server-side too).
                waited += 1
                guard waited <= 20 else {
                    throw BackendError.unavailable(service: "BigQuery", reason: "BigQuery job \(jobID) did not complete")
                }
                response = try await api.decode(
                    BigQueryResponse.self, .GET,
                    "\(base)/queries/\(BackendClient.escape(jobID))?timeoutMs=30000&maxResults=10000\(location)")
                continue
            }
            for row in response.rows ?? [] {
                rows.append((row.f ?? []).map { $0.v?.stringValue ?? "" })
            }
            guard let token = response.pageToken, !token.isEmpty else { return rows }
            response = try await api.decode(
                BigQueryResponse.self, .GET,
                "\(base)/queries/\(BackendClient.escape(jobID))?pageToken=\(BackendClient.escape(token))&maxResults=10000\(location)")
        }
    }
}
