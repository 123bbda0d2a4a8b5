import Foundation
import LauncherCore
import LauncherStages
import LauncherTestSupport
import Testing

/// Whole workloads of the Terra family against the fake services.
@Suite struct TerraWorkloadTests {
    @Test func tdrSnapshotsThroughTerraIntoTheDataRepo() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration, version: 3)
            let first = fake.addSnapshot(name: "cohort_a", table: "sample", rows: 2)
            let second = fake.addSnapshot(name: "cohort_b", table: "sample", rows: 3)
            let dataset = fake.addDataset(
                name: "outputs", table: "result",
                columns: ["sample_id": "string", "cram": "fileref", "score": "integer", "pipeline": "string"])
            try await TestLauncher.with(settings: fake.settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(first.id), .string(second.id)]],
                        executor: terraExecutor(["memoryRetryMultiplier": 1.5]),
                        sink: [
                            "name": "Terra DataRepo", "dataset": .string(dataset), "table": "result",
                            "fromOutputs": ["sample_id": "sample_id", "cram": "cram", "score": "score", "pipeline": "$wfl-v1"],
                        ]),
                    start: true)
                let uuid = view.record.uuid
                let done = try await launcher.runUntilFinished(uuid)
                #expect(done.counts == [.succeeded: 5], "\(done.counts) \(done.record.lastError ?? "")")

                // One submission per snapshot, on this workload's own copy of the configuration.
                let copy = "variant-calling_wfl_\(uuid.uuidString.lowercased().prefix(8))"
                let submissions = fake.submissions()
                #expect(submissions.count == 2)
                for submission in submissions {
                    #expect(submission.methodConfiguration == "broad-wfl/\(copy)")
                    #expect(submission.comment.hasPrefix("New submission Workload: \(uuid.uuidString.lowercased()) Snapshot ID: "))
                    #expect(submission.comment.contains("Launch: "))
                    #expect(submission.request["memoryRetryMultiplier"] == 1.5 && submission.request["useCallCache"] == true)
                    #expect(submission.request["entityName"] == nil, "the whole snapshot is submitted")
                }
                #expect(Set(submissions.flatMap(\.entities)) == Set(first.rows + second.rows))
                let original = try #require(fake.methodConfiguration(workspace, methodConfiguration))
                #expect(
                    original["methodConfigVersion"] == 3 && original["dataReferenceName"] == nil, "the shared configuration is untouched")
                let ours = try #require(fake.methodConfiguration(workspace, "broad-wfl/\(copy)"))
                #expect(ours["rootEntityType"] == "sample" && ours["dataReferenceName"] != nil)

                let workflows = try await launcher.allWorkflows(uuid)
                for workflow in workflows {
                    let entity = try #require(workflow.inputs["entity"]?.stringValue)
                    #expect(workflow.externalID != nil && workflow.submission == submissions.first { $0.entities.contains(entity) }?.id)
                    #expect(workflow.outputs?["sample_id"]?.stringValue == entity)
                    #expect(workflow.outputs?["metrics"]?.arrayValue?.count == 2)
                    #expect(workflow.consumed != nil && workflow.deliveryError == nil)
                }
                // Statuses come from one read of each submission, never one call per workflow.
                #expect(fake.calls("GET", matching: "/workflows/").allSatisfy { $0.path.hasSuffix("/outputs") })
                #expect(fake.calls("GET", matching: "/workflows/").count == 5)

                let rows = fake.datasetRows(dataset, table: "result")
                #expect(rows.count == 5)
                for row in rows {
                    let sample = try #require(row["sample_id"]?.stringValue)
                    let workflow = try #require(workflows.first { $0.inputs["entity"]?.stringValue == sample })
                    #expect(row["cram"]?["sourcePath"]?.stringValue == "gs://fake-bucket/\(sample).cram")
                    #expect(row["cram"]?["targetPath"]?.stringValue == "/\(workflow.uuid.uuidString.lowercased())/\(sample).cram")
                    #expect(row["pipeline"] == "wfl-v1" && row["score"] == 42)
                }
                #expect(fake.calls("POST", matching: "/ingest").count < 5, "succeeded workflows are ingested in batches")
                // The token is fetched once and reused for every call.
                #expect(
                    fake.tokenRequests == 1 && fake.authorizedCalls > 20, "\(fake.tokenRequests) tokens for \(fake.authorizedCalls) calls")
            }
        }
    }

    @Test func terraDataRepoThroughTerraIntoTheWorkspace() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(
                workspace, methodConfiguration: methodConfiguration,
                entityTypes: ["sample": ["cram", "score", "metrics", "pipeline"]])
            let dataset = fake.addDataset(name: "genomes", table: "sample", columns: ["sample_id": "string", "reads": "fileref"])
            let earlier = fake.ingestRows(dataset: dataset, table: "sample", count: 3, at: Date().addingTimeInterval(-60))
            fake.ingestRows(dataset: dataset, table: "sample", count: 2, loadTag: "other-load", at: Date().addingTimeInterval(-60))
            try await TestLauncher.with(settings: fake.settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: [
                            "name": "Terra DataRepo", "dataset": .string(dataset), "table": "sample",
                            "snapshotReaders": ["readers@example.org"],
                            "pollingIntervalMinutes": 0.01, "loadTag": "load-",
                        ],
                        executor: terraExecutor(),
                        sink: [
                            "name": "Terra Workspace", "workspace": .string(workspace), "entityType": "sample", "identifier": "sample_id",
                            "fromOutputs": ["cram": "cram", "score": "score", "metrics": ["metrics"], "pipeline": "$wfl"],
                        ]),
                    start: true)
                let uuid = view.record.uuid
                try await launcher.updateUntil(uuid, "the first rows delivered") { $0.counts[.succeeded] == 3 }
                try await launcher.updateUntil(uuid, "the first deliveries") { _ in fake.entities(workspace, type: "sample").count == 3 }

                // Rows that arrive later make a second snapshot; rows already taken are not taken again.
                let later = fake.ingestRows(dataset: dataset, table: "sample", count: 2, loadTag: "load-2")
                try await launcher.updateUntil(uuid, "the later rows delivered") { _ in fake.entities(workspace, type: "sample").count == 5
                }
                _ = try await launcher.service.stop(uuid)
                let done = try await launcher.runUntilFinished(uuid)
                #expect(done.counts == [.succeeded: 5])

                let snapshots = fake.snapshotsOf(dataset: dataset)
                #expect(snapshots.map(\.rows.count).sorted() == [2, 3], "\(snapshots)")
                #expect(Set(snapshots.flatMap(\.rows)) == Set(earlier + later), "the load tag is a prefix filter")
                let request = try #require(fake.calls("POST", matching: "/tdr/api/repository/v1/snapshots").first?.body)
                #expect(request["readers"] == ["readers@example.org"] && request["profileId"] == "profile-1")
                #expect(request["contents"]?[0]?["rowIdSpec"]?["tables"]?[0]?["columns"] == ["datarepo_row_id", "reads", "sample_id"])

                let entities = fake.entities(workspace, type: "sample")
                #expect(Set(entities.keys) == Set(earlier + later))
                for (name, attributes) in entities {
                    #expect(attributes["cram"]?.stringValue == "gs://fake-bucket/\(name).cram")
                    #expect(attributes["metrics"]?.arrayValue?.count == 1, "a list of the outputs named: [metrics]")
                    #expect(attributes["pipeline"] == "wfl" && attributes["score"] == 42)
                }
                let upserts = fake.calls("POST", matching: "batchUpsert")
                #expect(
                    upserts.count <= 3 && upserts.map { $0.body.arrayValue?.count ?? 0 }.reduce(0, +) == 5,
                    "entities are upserted in batches")
                // BigQuery's pages were all read (two rows a page here), after waiting for the job.
                #expect(fake.calls("GET", matching: "pageToken=").count >= 1)
            }
        }
    }

    @Test func snapshotsAreShardsOfFiveHundredAndAFailedSnapshotJobIsRetriedWithItsRows() async throws {
        try await FakeTerra.with { fake in
            let dataset = fake.addDataset(name: "big", table: "sample", columns: ["sample_id": "string"])
            let rows = fake.ingestRows(dataset: dataset, table: "sample", count: 1001, at: Date().addingTimeInterval(-30))
            fake.failNextSnapshotJobs(1)
            fake.setPageSize(300)
            try await TestLauncher.with(settings: fake.settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: [
                            "name": "Terra DataRepo", "dataset": .string(dataset), "table": "sample", "snapshotReaders": ["r@example.org"],
                            "pollingIntervalMinutes": 0.01,
                        ],
                        executor: ["name": "Mock"]),
                    start: true)
                let uuid = view.record.uuid
                try await launcher.updateUntil(uuid, timeout: .seconds(90), "three snapshots launched") { $0.counts[.succeeded] == 3 }
                let snapshots = fake.snapshotsOf(dataset: dataset)
                #expect(snapshots.map(\.rows.count).sorted() == [1, 500, 500])
                let taken = snapshots.flatMap(\.rows)
                #expect(taken.count == 1001 && Set(taken) == Set(rows), "no row lost, none taken twice")
                #expect(fake.calls("POST", matching: "/tdr/api/repository/v1/snapshots").count == 4, "three shards, one retried")

                let events = try await launcher.service.events(uuid, cursor: nil, limit: 100).items
                let problem = try #require(events.first { $0.kind == "error" }?.message)
                #expect(
                    problem.contains("Snapshot creation job") && problem.contains("failed: the dataset is locked by another operation"),
                    "\(problem)")
                // More polls find nothing new: the overlap window does not take rows twice.
                try await Task.sleep(for: .seconds(1))
                _ = try await launcher.updater.update(workloadID: view.record.id, wait: .seconds(5))
                #expect(fake.snapshotsOf(dataset: dataset).count == 3)
                let items = try await launcher.allWorkflows(uuid).compactMap { $0.inputs["snapshotId"]?.stringValue }
                #expect(Set(items) == Set(snapshots.map(\.id)) && items.count == 3)
            }
        }
    }

    @Test func retryUsesRawlsRetryForExactlyTheFailedAndEntitiesOtherwise() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 4)
            let failing = Set(snapshot.rows.prefix(2))
            fake.setOutcome { entity, attempt in
                failing.contains(entity) && attempt == 1
                    ? FakeTerra.Outcome("Failed", messages: ["CallingVariants: exit code 3"]) : .succeeded
            }
            try await TestLauncher.with(settings: fake.settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor()),
                    start: true)
                let uuid = view.record.uuid
                var done = try await launcher.runUntilFinished(uuid)
                #expect(done.counts == [.succeeded: 2, .failed: 2])
                let failed = try await launcher.allWorkflows(uuid, status: "Failed")
                #expect(failed.allSatisfy { $0.error?.message == "CallingVariants: exit code 3" && $0.error?.kind == .workflow })
                let originalSubmission = try #require(failed.first?.submission)

                // Exactly the failed workflows of a submission: Rawls' retry API, one call.
                let retried = try await launcher.service.retry(
                    uuid, request: ["status": "Failed", "submission": .string(originalSubmission)])
                #expect(retried.count == 2)
                done = try await launcher.runUntilFinished(uuid)
                #expect(done.counts == [.succeeded: 4], "retried workflows are replaced by their retries: \(done.counts)")
                let retryCalls = fake.calls("POST", matching: "/retry")
                #expect(retryCalls.count == 1 && retryCalls.first?.body["retryType"] == "Failed")
                let rawlsRetry = try #require(fake.submissions().last)
                #expect(
                    Set(rawlsRetry.entities) == failing && rawlsRetry.comment.contains("Retry Workload: \(uuid.uuidString.lowercased())"))
                for workflow in try await launcher.allWorkflows(uuid) where workflow.retryOf != nil {
                    #expect(workflow.status == .succeeded && workflow.submission == rawlsRetry.id && workflow.attempt == 2)
                }

                // One succeeded workflow, with more memory: resubmitted by entity.
                let succeeded = try #require(try await launcher.allWorkflows(uuid, status: "Succeeded").first { $0.attempt == 1 })
                let before = fake.submissions().count
                _ = try await launcher.service.retry(
                    uuid,
                    request: [
                        "uuids": [.string(succeeded.uuid.uuidString)],
                        "overrides": ["memoryRetryMultiplier": 2],
                    ])
                done = try await launcher.runUntilFinished(uuid)
                #expect(done.counts == [.succeeded: 4])
                let entityLevel = fake.submissions().dropFirst(before)
                #expect(entityLevel.count == 1)
                #expect(entityLevel.first?.request["entityName"] == succeeded.inputs["entity"])
                #expect(entityLevel.first?.request["entityType"] == "sample" && entityLevel.first?.request["memoryRetryMultiplier"] == 2.0)
                #expect(fake.calls("POST", matching: "/retry").count == 1, "a subset is not a Rawls retry")

                // Overrides are checked.
                await #expect(throws: LauncherError.self) {
                    _ = try await launcher.service.retry(uuid, request: ["status": "Succeeded", "overrides": ["cpus": 4]])
                }
            }
        }
    }

    @Test func abortDeletesTheActiveSubmissionOnce() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 3)
            fake.setHoldRunning(true)
            try await TestLauncher.with(settings: fake.settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor()),
                    start: true)
                let uuid = view.record.uuid
                try await launcher.updateUntil(uuid, "three running") { $0.counts[.running] == 3 }
                _ = try await launcher.service.abort(uuid)
                let done = try await launcher.runUntilFinished(uuid)
                #expect(done.counts == [.aborted: 3])
                #expect(fake.calls("DELETE", matching: "/submissions/").count == 1)
            }
        }
    }

    @Test func unknownIsGivenUpAfterItsTimeAndAWorkflowMissingFromItsSubmissionFails() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 3)
            let (stuck, missing) = (snapshot.rows[0], snapshot.rows[1])
            fake.setOutcome { entity, _ in entity == stuck ? FakeTerra.Outcome("Unknown") : .succeeded }
            try await TestLauncher.with(settings: fake.settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]],
                        executor: terraExecutor(["unknownTimeoutMinutes": 0.02])),
                    start: true)
                let uuid = view.record.uuid
                try await launcher.updateUntil(uuid, "three workflows") { $0.counts.values.reduce(0, +) == 3 }
                fake.dropFromSubmissions([missing])
                let done = try await launcher.runUntilFinished(uuid)
                #expect(done.counts == [.succeeded: 1, .failed: 2])
                let workflows = try await launcher.allWorkflows(uuid)
                let unknown = try #require(workflows.first { $0.inputs["entity"]?.stringValue == stuck })
                #expect(
                    unknown.error?.kind == .infrastructure && unknown.error?.message.contains("as Unknown since") == true,
                    "\(String(describing: unknown.error))")
                let lost = try #require(workflows.first { $0.inputs["entity"]?.stringValue == missing })
                #expect(
                    lost.error?.kind == .infrastructure && lost.error?.message.contains("has no workflow for entity \(missing)") == true)
            }
        }
    }

    @Test func serverErrorsAndSlowRepliesAreRetriedAndNeverFailAWorkflow() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 2)
            // A short request limit here (10 s elsewhere, so a loaded machine does not time out).
            var settings = fake.settings
            settings["WFL_TERRA_TIMEOUT_SECONDS"] = "2"
            try await TestLauncher.with(settings: settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor()),
                    start: true)
                let uuid = view.record.uuid
                fake.fail(.init("POST", "/submissions", status: 503, times: 2))  // retried within the call
                try await launcher.updateUntil(uuid, "two workflows") { $0.counts.values.reduce(0, +) == 2 }
                #expect(fake.submissions().count == 1)

                fake.delay("/submissions/", seconds: 3)  // longer than the 2 s request limit
                _ = await launcher.updater.updateRecordingErrors(view.record, wait: .seconds(5))
                let slow = try await launcher.service.workload(uuid)
                #expect(slow.record.lastError?.contains("did not answer") == true, "\(slow.record.lastError ?? "no error")")
                #expect(slow.counts[.failed] == nil)
                fake.clearDelays()
                fake.fail(.init("GET", "/submissions/", status: 500, times: 2))
                let done = try await launcher.runUntilFinished(uuid)
                #expect(done.counts == [.succeeded: 2])
            }
        }
    }

    @Test func undeliverableItemsAreSetAsideAndABadRowDoesNotHoldBackTheBatch() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration, entityTypes: ["sample": ["cram"]])
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 3)
            let anonymous = snapshot.rows[0]
            fake.omitSampleID(for: [anonymous])
            try await TestLauncher.with(settings: fake.settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor(),
                        sink: [
                            "name": "Terra Workspace", "workspace": .string(workspace), "entityType": "sample", "identifier": "sample_id",
                            "fromOutputs": ["cram": "cram"],
                        ]),
                    start: true)
                let done = try await launcher.runUntilFinished(view.record.uuid)
                #expect(done.counts == [.succeeded: 3])
                let workflows = try await launcher.allWorkflows(view.record.uuid)
                let setAside = try #require(workflows.first { $0.inputs["entity"]?.stringValue == anonymous })
                #expect(
                    setAside.deliveryError
                        == "Entity name not found: sink.identifier \"sample_id\" is not in the workflow's outputs or inputs")
                #expect(Set(fake.entities(workspace, type: "sample").keys) == Set(snapshot.rows.dropFirst()))
            }
        }

        // The data-repository sink: a failed batch ingest is split row by row; the bad row alone is set aside.
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 3)
            let dataset = fake.addDataset(name: "outputs", table: "result", columns: ["sample_id": "string", "cram": "fileref"])
            let bad = snapshot.rows[1]
            fake.rejectRows(withValue: bad)
            let options = UpdaterOptions(concurrency: 4, batchSize: 100, tickBudget: .seconds(5), maxDeliveryAttempts: 2)
            try await TestLauncher.with(options: options, settings: fake.settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor(),
                        sink: [
                            "name": "Terra DataRepo", "dataset": .string(dataset), "table": "result",
                            "fromOutputs": ["sample_id": "sample_id", "cram": "cram"],
                        ]),
                    start: true)
                let done = try await launcher.runUntilFinished(view.record.uuid)
                #expect(done.counts == [.succeeded: 3])
                let rows = fake.datasetRows(dataset, table: "result")
                #expect(Set(rows.compactMap { $0["sample_id"]?.stringValue }) == Set(snapshot.rows).subtracting([bad]))
                let workflows = try await launcher.allWorkflows(view.record.uuid)
                let rejected = try #require(workflows.first { $0.inputs["entity"]?.stringValue == bad })
                #expect(rejected.deliveryError?.contains("bad record") == true, "\(rejected.deliveryError ?? "none")")
                #expect(workflows.filter { $0.deliveryError != nil }.count == 1)
            }
        }
    }

    @Test func aTokenThatExpiresSoonIsNotReused() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            fake.setTokenLifetime(200)  // under the five-minute margin
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 1)
            try await TestLauncher.with(settings: fake.settings) { launcher in
                _ = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor()),
                    start: false)
                // One fresh token per call (three calls at create; a retried call on a loaded machine makes four).
                #expect(
                    fake.tokenRequests == fake.authorizedCalls && fake.authorizedCalls >= 3,
                    "\(fake.tokenRequests) for \(fake.authorizedCalls)")
            }
        }
    }

    @Test func workloadsSharingAMethodConfigurationDoNotRaceAndAnImportedSnapshotIsReused() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            let shared = fake.addSnapshot(name: "shared", table: "sample", rows: 2)
            let own = fake.addSnapshot(name: "own", table: "sample", rows: 3)
            try await TestLauncher.with(settings: fake.settings) { launcher in
                let a = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(shared.id)]], executor: terraExecutor()), start: true)
                let b = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(own.id), .string(shared.id)]], executor: terraExecutor()),
                    start: true)
                // Both workloads update at once, as two updaters would.
                async let first = launcher.runUntilFinished(a.record.uuid)
                async let second = launcher.runUntilFinished(b.record.uuid)
                let (doneA, doneB) = try await (first, second)
                #expect(doneA.counts == [.succeeded: 2] && doneB.counts == [.succeeded: 5])
                for (view, snapshots) in [(a, [shared]), (b, [own, shared])] {
                    let workflows = try await launcher.allWorkflows(view.record.uuid)
                    for snapshot in snapshots {
                        let entities = workflows.filter { $0.inputs["snapshotId"]?.stringValue == snapshot.id }.compactMap {
                            $0.inputs["entity"]?.stringValue
                        }
                        #expect(Set(entities) == Set(snapshot.rows), "each submission ran the rows of its own snapshot")
                    }
                }
                #expect(fake.methodConfigurations(workspace).count == 3, "the original and one copy per workload")
                // The second import of the shared snapshot answered 409 and the reference was looked up.
                #expect(fake.calls("GET", matching: "referencedSnapshotId=\(shared.id)").count >= 1)
            }
        }
    }

    @Test func aStaticTokenIsUsedAsGivenWithoutAskingForOne() async throws {
        try await FakeTerra.with { fake in
            fake.addWorkspace(workspace, methodConfiguration: methodConfiguration)
            let snapshot = fake.addSnapshot(name: "cohort", table: "sample", rows: 1)
            var settings = fake.settings
            settings["WFL_GOOGLE_TOKEN"] = fake.issueToken()
            settings["GOOGLE_APPLICATION_CREDENTIALS"] = "/nonexistent/key.json"
            try await TestLauncher.with(settings: settings) { launcher in
                let view = try await launcher.service.create(
                    TestLauncher.request(
                        source: ["name": "TDR Snapshots", "snapshots": [.string(snapshot.id)]], executor: terraExecutor()),
                    start: true)
                #expect(try await launcher.runUntilFinished(view.record.uuid).counts == [.succeeded: 1])
                #expect(fake.tokenRequests == 0 && fake.authorizedCalls > 5)
            }
        }
    }
}
