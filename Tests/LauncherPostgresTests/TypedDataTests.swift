import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

/// Numbers reach the backend and the sink exactly as the user wrote them, and workloads
/// stored by the launcher before its configurations were typed still load and run.
@Suite struct TypedDataTests {
    /// Numbers a double or an Int64 would change. jsonb keeps each as an exact decimal (its
    /// numeric type): `3.0` keeps its scale, `1e42` comes back as its 43 digits, never `1e+42`.
    static let numbers = #"{"float": 3.0, "big": 9223372036854775808, "huge": 1e42, "small": 0.1, "plain": 7}"#

    @Test func numbersRoundTripThroughStoredRowsTheBackendAndTheSink() async throws {
        try await TestLauncher.with { launcher in
            let out = launcher.home.appendingPathComponent("delivered")
            let request = try JSONValue.parse(
                """
                {"project": "numbers", "source": {"name": "Items", "items": [\(Self.numbers)]},
                 "executor": {"name": "Local", "command": "cp \\"$WFL_INPUTS\\" \\"$WFL_OUTPUTS\\""},
                 "sink": {"name": "Directory", "path": "\(out.path)"}}
                """)
            let view = try await launcher.service.create(request, start: true)
            // The stored row: PostgreSQL's jsonb keeps numeric text as written.
            let stored = try await launcher.database.scalarText("SELECT payload::text FROM source_item LIMIT 1") ?? ""
            #expect(stored.contains("3.0") && stored.contains("9223372036854775808"), "\(stored)")
            #expect(try await launcher.runUntilFinished(view.record.uuid).counts == [.succeeded: 1])
            let workflow = try #require(try await launcher.allWorkflows(view.record.uuid).first)
            // What the backend was given: the executor's inputs.json.
            let inputs = try String(
                contentsOfFile:
                    "\(launcher.home.path)/work/\(view.record.uuid.uuidString.lowercased())/\(workflow.uuid.uuidString.lowercased())/inputs.json",
                encoding: .utf8)
            // The outputs as read back, and the delivered file.
            let delivered = try String(
                contentsOf: out.appendingPathComponent("\(workflow.uuid.uuidString.lowercased()).json"), encoding: .utf8)
            for text in [inputs, JSONValue.object(workflow.outputs ?? [:]).description, delivered] {
                let value = try JSONValue.parse(text)
                let numbers = value["outputs"] ?? value
                #expect(numbers["float"]?.description == "3.0", "\(text)")
                #expect(numbers["big"]?.description == "9223372036854775808", "\(text)")
                #expect(numbers["small"]?.description == "0.1", "\(text)")
                #expect(numbers["huge"].flatMap { Decimal(string: $0.description) } == Decimal(string: "1e42"), "\(text)")
                #expect(!text.contains("e+"), "\(text)")
            }
            #expect(workflow.outputs?["float"] == workflow.inputs["float"])
            #expect(workflow.outputs?["big"]?.description == "9223372036854775808")
        }
    }

    /// A workload row exactly as the launcher wrote it before configurations were typed (the
    /// stage writers of the previous release), inserted with SQL: it still loads, runs and shows.
    @Test func workloadsStoredInThePreviousFormatStillLoadAndRun() async throws {
        try await TestLauncher.with { launcher in
            let out = launcher.home.appendingPathComponent("old-format")
            try await launcher.database.execute(
                """
                INSERT INTO workload (uuid, project, creator, labels, source_type, source_config, executor_type, executor_config,
                                      sink_type, sink_config, version, started, updated, wake_at)
                VALUES ('6f0e6a59-6a5e-4c2b-9c1e-3f4b1d2a7c01', 'old', 'someone', '{project:old}',
                        'Items', '{"name": "Items", "itemCount": 2}',
                        'Local', '{"name": "Local", "command": "echo \\"{\\\\\\"n\\\\\\": $n}\\" > \\"$WFL_OUTPUTS\\"", "maxParallel": 2, "timeout": 30}',
                        'Directory', '{"name": "Directory", "path": "\(out.path)"}', '0.1.0', now(), now(), now())
                """)
            try await launcher.database.execute(
                """
                INSERT INTO source_item (workload_id, payload)
                SELECT id, p::jsonb FROM workload, unnest(ARRAY['{"n": 1}', '{"n": 2}']) AS p
                WHERE uuid = '6f0e6a59-6a5e-4c2b-9c1e-3f4b1d2a7c01'
                """)
            let uuid = UUID(uuidString: "6f0e6a59-6a5e-4c2b-9c1e-3f4b1d2a7c01")!
            let view = try await launcher.runUntilFinished(uuid)
            #expect(view.counts == [.succeeded: 2])
            #expect(view.record.quarantinedAt == nil)
            #expect(try await launcher.allWorkflows(uuid).map { $0.outputs?["n"] }.compactMap { $0 }.count == 2)
            #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).count == 2)
            // Shown as stored, with the fields the typed config adds at their defaults.
            #expect(view.record.executorConfig["maxParallel"] == 2)
            // Each of the previous writers' formats decodes.
            let previous: [(kind: StageKind, config: JSONValue)] = [
                (
                    .executor,
                    [
                        "name": "SLURM", "command": "true", "memory": "4G", "time": "1-12:00:00", "array": 1000, "cpus": 4,
                        "lostAfterSeconds": 60.5, "commandTimeoutSeconds": 30, "pollSeconds": 2,
                    ]
                ),
                (.executor, ["name": "Mock", "delaySeconds": 0.25, "failWhen": ["x": 1]]),
                (
                    .executor,
                    [
                        "name": "Container", "image": "localhost/tiny", "command": "true", "network": "none", "maxParallel": 4,
                        "pull": "missing", "memory": "20m", "cpus": 1.5,
                    ]
                ),
                (
                    .executor,
                    [
                        "name": "WES", "url": "http://127.0.0.1:1/ga4gh/wes/v1", "workflowUrl": "x.cwl", "workflowType": "CWL",
                        "workflowTypeVersion": "v1.2", "requestTimeoutSeconds": 5,
                    ]
                ),
                (
                    .executor,
                    [
                        "name": "Terra", "workspace": "ns/ws", "methodConfiguration": "ns/mc", "fromSource": "importSnapshot",
                        "methodConfigurationVersion": 7,
                    ]
                ),
                (.source, ["name": "TDR Snapshots", "snapshots": ["0b3f4b1d-2a7c-4c2b-9c1e-6f0e6a596a5e"]]),
                (
                    .source,
                    [
                        "name": "Terra DataRepo", "dataset": "0b3f4b1d-2a7c-4c2b-9c1e-6f0e6a596a5e", "table": "t",
                        "snapshotReaders": ["a@b.org"], "pollingIntervalMinutes": 20,
                    ]
                ),
                (
                    .sink,
                    ["name": "Terra Workspace", "workspace": "ns/ws", "entityType": "e", "identifier": "id", "fromOutputs": ["a": "b"]]
                ),
                (.sink, ["name": "None"]),
            ]
            let registry = launcher.registry
            for (kind, config) in previous {
                switch kind {
                case .source: _ = try registry.makeSource(config, context: .stored)
                case .executor: _ = try registry.makeExecutor(config, context: .stored)
                case .sink: _ = try registry.makeSink(config, context: .stored)
                }
            }
        }
    }
}
