import Foundation
import LauncherCore
import LauncherStages
import LauncherTestSupport
import Testing

let workspace = "broad-wfl/test workspace"
let methodConfiguration = "broad-wfl/variant-calling"

func terraExecutor(_ change: JSONObject = [:]) -> JSONValue {
    var config: JSONObject = [
        "name": "Terra", "workspace": .string(workspace), "methodConfiguration": .string(methodConfiguration),
        "fromSource": "importSnapshot", "pollSeconds": 0,
    ]
    for (key, value) in change { config[key] = value }
    return .object(config.compacted)
}

/// Every create-time check of the Terra family, against the fake services: the error names the
/// field, says what is wrong in WFL's words, never repeats the upstream body, and nothing is
/// written.
@Suite struct TerraCreateTests {
    func expectInvalid(
        _ launcher: TestLauncher, _ request: JSONValue, field: String, _ text: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        do {
            _ = try await launcher.service.create(request, start: false)
            Issue.record("created although \(field) is wrong", sourceLocation: sourceLocation)
        } catch let error as LauncherError {
            #expect(error.kind == .badRequest, "\(error)", sourceLocation: sourceLocation)
            #expect(error.details["field"]?.stringValue == field, "\(error) \(error.details)", sourceLocation: sourceLocation)
            #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
            #expect(
                !error.message.contains("internal-id-7731") && !error.details.description.contains("internal-id-7731"),
                "the upstream body leaked: \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func theExecutorsChecks() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration, version: 7)
            let snapshot = fake.addSnapshot(name: "snap", table: "sample", rows: 1)
            let source: JSONValue = ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]]
            try await TestLauncher.with(settings: fake.settings) { launcher in
                func request(_ change: JSONObject) -> JSONValue { TestLauncher.request(source: source, executor: terraExecutor(change)) }
                await expectInvalid(launcher, request(["workspace": "no-slash"]), field: "executor.workspace", "is not \"namespace/name\"")
                await expectInvalid(launcher, request(["workspace": "a/b/c"]), field: "executor.workspace", "is not \"namespace/name\"")
                await expectInvalid(
                    launcher, request(["methodConfiguration": "bad!/name"]), field: "executor.methodConfiguration", "namespace/name")
                await expectInvalid(
                    launcher, request(["fromSource": "importWorkspace"]), field: "executor.fromSource", "Unsupported coercion")
                await expectInvalid(launcher, request(["fromSource": nil]), field: "executor.fromSource", "required")
                await expectInvalid(
                    launcher, request(["memoryRetryMultiplier": 0.5]), field: "executor.memoryRetryMultiplier", "must be at least 1")
                await expectInvalid(
                    launcher, request(["unknownTimeoutMinutes": 0]), field: "executor.unknownTimeoutMinutes", "must be greater than 0")
                await expectInvalid(
                    launcher, request(["skipValidation": true]), field: "executor.skipValidation", "unknown field for the Terra executor")
                await expectInvalid(
                    launcher, request(["workspace": "broad-wfl/missing"]), field: "executor.workspace",
                    "Cannot access workspace broad-wfl/missing: it does not exist")
                await expectInvalid(
                    launcher, request(["methodConfiguration": "broad-wfl/missing"]), field: "executor.methodConfiguration",
                    "Cannot access method configuration broad-wfl/missing in workspace \(workspace)")
                await expectInvalid(
                    launcher, request(["methodConfigurationVersion": 6]), field: "executor.methodConfigurationVersion",
                    "is at version 7, not 6")

                fake.fail(.init("GET", "/fc/api/workspaces/broad-wfl/test workspace", status: 403, times: 1))
                await expectInvalid(
                    launcher, request([:]), field: "executor.workspace", "Cannot access workspace \(workspace): Firecloud answered HTTP 403"
                )
                fake.fail(.init("GET", "/fc/api/workspaces/broad-wfl/test workspace", status: 401, times: 1))
                await expectInvalid(launcher, request([:]), field: "executor.workspace", "grant the launcher's service account access")

                // A service that keeps failing is "unavailable", after retries; not the user's fault.
                fake.fail(.init("GET", "/fc/api/workspaces/broad-wfl/test workspace", status: 500, times: 3))
                do {
                    _ = try await launcher.service.create(request([:]), start: false)
                    Issue.record("created while Firecloud answers 500")
                } catch let error as LauncherError {
                    #expect(
                        error.kind == .unavailable && error.message.contains("HTTP 500") && error.message.contains("after 3 tries"),
                        "\(error)")
                }
                #expect(try await launcher.service.workloads(project: nil, cursor: nil, limit: nil).items.isEmpty, "nothing half-written")

                // The version read from Firecloud is recorded when the request has none.
                let created = try await launcher.service.create(request([:]), start: false)
                #expect(created.record.executorConfig["methodConfigurationVersion"] == 7)
                let matching = try await launcher.service.create(request(["methodConfigurationVersion": 7]), start: false)
                #expect(matching.record.executorConfig["methodConfigurationVersion"] == 7)
            }
        }
    }

    @Test func theSourcesChecks() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            let dataset = fake.addDataset(name: "genomes", table: "sample", columns: ["sample_id": "string", "cram": "fileref"])
            try await TestLauncher.with(settings: fake.settings) { launcher in
                func request(_ source: JSONValue) -> JSONValue { TestLauncher.request(source: source, executor: terraExecutor()) }
                let missing = UUID().uuidString.lowercased()
                await expectInvalid(
                    launcher, request(["name": "TDR Snapshots", "snapshots": []]), field: "source.snapshots", "must not be empty")
                await expectInvalid(
                    launcher, request(["name": "TDR Snapshots", "snapshots": ["not-a-uuid"]]), field: "source.snapshots[0]", "a UUID")
                await expectInvalid(
                    launcher, request(["name": "TDR Snapshots", "snapshots": [.string(missing)]]), field: "source.snapshots[0]",
                    "Cannot access snapshot \(missing)")
                func tdr(_ change: JSONObject) -> JSONValue {
                    var config: JSONObject = [
                        "name": "Terra DataRepo", "dataset": .string(dataset), "table": "sample",
                        "snapshotReaders": ["reader@example.org"],
                    ]
                    for (key, value) in change { config[key] = value }
                    return .object(config.compacted)
                }
                await expectInvalid(
                    launcher, request(tdr(["dataset": .string(missing)])), field: "source.dataset", "Cannot access dataset \(missing)")
                await expectInvalid(launcher, request(tdr(["dataset": "genomes"])), field: "source.dataset", "a UUID")
                await expectInvalid(launcher, request(tdr(["table": "flowcell"])), field: "source.table", "Table not found")
                await expectInvalid(launcher, request(tdr(["snapshotReaders": nil])), field: "source.snapshotReaders", "required")
                await expectInvalid(launcher, request(tdr(["snapshotReaders": ["nobody"]])), field: "source.snapshotReaders[0]", "email")
                await expectInvalid(
                    launcher, request(tdr(["pollingIntervalMinutes": 0])), field: "source.pollingIntervalMinutes", "must be greater than 0")
                fake.fail(.init("POST", "/bq/", status: 403, times: 1))
                await expectInvalid(
                    launcher, request(tdr([:])), field: "source.dataset", "Cannot access the BigQuery dataset of dataset \(dataset)")

                let noMetadata = fake.addDataset(name: "unindexed", table: "sample", columns: ["sample_id": "string"])
                fake.removeRowMetadata(noMetadata)
                await expectInvalid(
                    launcher, request(tdr(["dataset": .string(noMetadata)])), field: "source.table",
                    "TDR row metadata table not found in BigQuery at `tdr-data-project.datarepo_unindexed.datarepo_row_metadata_sample`")
                let created = try await launcher.service.create(request(tdr(["loadTag": "batch-7"])), start: false)
                #expect(created.record.sourceConfig["pollingIntervalMinutes"] == 20, "WFL's default interval")
            }
        }
    }

    @Test func theSinksChecks() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration, entityTypes: ["sample": ["cram", "score"]])
            let dataset = fake.addDataset(name: "outputs", table: "result", columns: ["sample_id": "string", "cram": "fileref"])
            let snapshot = fake.addSnapshot(name: "snap", table: "sample", rows: 1)
            try await TestLauncher.with(settings: fake.settings) { launcher in
                func request(_ sink: JSONValue) -> JSONValue {
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor(), sink: sink)
                }
                func workspaceSink(_ change: JSONObject) -> JSONValue {
                    var config: JSONObject = [
                        "name": "Terra Workspace", "workspace": .string(workspace), "entityType": "sample",
                        "identifier": "sample_id", "fromOutputs": ["cram": "cram", "sample_id": "sample_id"],
                    ]
                    for (key, value) in change { config[key] = value }
                    return .object(config.compacted)
                }
                await expectInvalid(
                    launcher, request(workspaceSink(["entityType": "flowcell"])), field: "sink.entityType",
                    "The entityType was not found in workspace")
                await expectInvalid(
                    launcher, request(workspaceSink(["fromOutputs": ["cram": "cram", "qc": "qc"]])), field: "sink.fromOutputs",
                    "Found additional attributes in fromOutputs that are not present in the entityType sample: qc")
                await expectInvalid(
                    launcher, request(workspaceSink(["fromOutputs": "cram"])), field: "sink.fromOutputs", "expected an object")
                await expectInvalid(
                    launcher, request(workspaceSink(["fromOutputs": nil])), field: "sink.fromOutputs",
                    "fromOutputs must define a mapping from workflow outputs to the attributes of entityType")
                await expectInvalid(launcher, request(workspaceSink(["identifier": nil])), field: "sink.identifier", "required")
                await expectInvalid(
                    launcher, request(workspaceSink(["workspace": "broad-wfl/elsewhere"])), field: "sink.workspace",
                    "Cannot access workspace broad-wfl/elsewhere")

                func repoSink(_ change: JSONObject) -> JSONValue {
                    var config: JSONObject = [
                        "name": "Terra DataRepo", "dataset": .string(dataset), "table": "result",
                        "fromOutputs": ["cram": "cram", "sample_id": "sample_id"],
                    ]
                    for (key, value) in change { config[key] = value }
                    return .object(config.compacted)
                }
                await expectInvalid(launcher, request(repoSink(["table": "nope"])), field: "sink.table", "Table not found")
                await expectInvalid(
                    launcher, request(repoSink(["fromOutputs": ["cram": "cram", "bam": "bam"]])), field: "sink.fromOutputs",
                    "Found column names in fromOutputs that are not columns of the table in the dataset: bam")
                fake.fail(.init("GET", "/tdr/api/repository/v1/datasets", status: 403, times: 1))
                await expectInvalid(
                    launcher, request(repoSink([:])), field: "sink.dataset",
                    "Cannot access dataset \(dataset): the data repository answered HTTP 403")

                #expect(try await launcher.service.workloads(project: nil, cursor: nil, limit: nil).items.isEmpty, "nothing half-written")
                _ = try await launcher.service.create(request(workspaceSink([:])), start: false)
                _ = try await launcher.service.create(request(repoSink([:])), start: false)
            }
        }
    }

    @Test func withoutCredentialsTheErrorSaysWhatToSet() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            var settings = fake.settings
            settings["GOOGLE_APPLICATION_CREDENTIALS"] = ""
            try await TestLauncher.with(settings: settings) { launcher in
                let snapshot = fake.addSnapshot(name: "snap", table: "sample", rows: 1)
                do {
                    _ = try await launcher.service.create(
                        TestLauncher.request(
                            source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor()),
                        start: false)
                    Issue.record("created without credentials")
                } catch let error as LauncherError {
                    #expect(error.kind == .unavailable && error.message.contains("GOOGLE_APPLICATION_CREDENTIALS"), "\(error)")
                }
            }
        }
    }

    /// A long list of snapshots (40,000 ids) is checked whole: a duplicate at the very end is
    /// refused naming both places. That the check stays linear is measured by
    /// `wfl-bench validation`, not timed here.
    @Test func aDuplicateAtTheEndOfALongSnapshotListNamesBothPlaces() throws {
        var ids = (0..<40_000).map { _ in JSONValue.string(UUID().uuidString.lowercased()) }
        ids.append(ids[17])
        do {
            _ = try StageRegistry.builtin.makeSource(["name": "TDR Snapshots", "snapshots": .array(ids)])
            Issue.record("accepted a duplicate snapshot")
        } catch let error as LauncherError {
            #expect(error.details["field"]?.stringValue == "source.snapshots[40000]")
            #expect(error.message.contains("listed twice (also at index 17)"), "\(error.message)")
        }
    }
}
