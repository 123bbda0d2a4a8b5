import Foundation
import LauncherCore
import LauncherStageSupport

/// `{"name": "Terra", "workspace": "ns/name", "methodConfiguration": "ns/name", "fromSource": "importSnapshot", …}`
///
/// Runs each data-repository snapshot the source produces as one Terra submission (one workflow
/// per row of the snapshot's table), WFL's request shape with its weaknesses fixed:
///
/// - **Create** reads the workspace and the method configuration, and refuses a
///   `methodConfigurationVersion` that no longer matches Firecloud's (someone changed it).
/// - **Submit** imports the snapshot as a workspace reference (an existing one on 409), points
///   this workload's own copy of the method configuration at it (`<name>_wfl_<workload>`, so
///   workloads sharing a configuration never race), and creates the submission. Its
///   `userComment` names the workload, the snapshot and the launch: after a crash the
///   workspace's submissions are listed before submitting again. The item becomes one workflow
///   per entity of the submission; Terra fills in their ids later.
/// - **Poll**: one `GET …/submissions/{id}` per active submission lists every workflow's id
///   and status. A workflow Terra reports as `Unknown` for longer than `unknownTimeoutMinutes`
///   is failed as an infrastructure error instead of keeping the workload open forever.
/// - **Retry** uses Rawls' retry API when the workflows to retry are exactly a submission's
///   failed and/or aborted ones, and resubmits the entities one by one otherwise.
/// - **Abort** deletes the active submissions.
struct TerraExecutor: Executor, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Terra"
        static let summary = "Runs each data-repository snapshot as a Terra submission of a method configuration (one workflow per row)."

        var workspace = NamespacedName(namespace: "", name: "")
        var methodConfiguration = NamespacedName(namespace: "", name: "")
        var methodConfigurationVersion: Int?
        var fromSource = ""
        var memoryRetryMultiplier: Double?
        var unknownTimeoutMinutes = 60.0
        var pollSeconds = 30.0
        var maxActive: Int?
        var maxSubmitPerTick: Int?

        static let fields: [Field<Config>] = [
            Field("workspace", \.workspace, required: true, "The Terra workspace, \"namespace/name\"."),
            Field(
                "methodConfiguration", \.methodConfiguration, required: true,
                "The method configuration in the workspace, \"namespace/name\"."),
            Field(
                "methodConfigurationVersion", \.methodConfigurationVersion, .range(0...Int(Int32.max)),
                "The version you expect; create fails if Firecloud's differs. Recorded at create when omitted."),
            Field(
                "fromSource", \.fromSource, .text(max: 64, nonBlank: true), required: true,
                "How items become submissions; \"importSnapshot\" (the only one)."),
            Field(
                "memoryRetryMultiplier", \.memoryRetryMultiplier, .range(1.0...100.0),
                "Passed to Terra: retry tasks that ran out of memory with this factor more."),
            Field(
                "unknownTimeoutMinutes", \.unknownTimeoutMinutes, .above(0, max: 43_200),
                "Fail a workflow Terra reports as Unknown for this long."),
            Field("pollSeconds", \.pollSeconds, .seconds(allowZero: true, max: 86_400), "Seconds between status queries."),
            Field(
                "maxActive", \.maxActive, .count(), "Most workflows of this workload active at once (counted per snapshot when launching)."),
            Field("maxSubmitPerTick", \.maxSubmitPerTick, .count(), "Most snapshots submitted per update of the workload."),
        ]

        func finish(at path: FieldPath, context: ConfigContext) throws {
            guard fromSource == "importSnapshot" else {
                throw path.key("fromSource").invalid(
                    "Unsupported coercion: \"\(Constraint.excerpt(fromSource))\"; the Terra executor supports \"importSnapshot\"",
                    ["fromSource": .string(fromSource)])
            }
        }
    }

    /// What a retry may change for its new attempts.
    struct Overrides: ConfigStruct {
        var memoryRetryMultiplier: Double?
        static let fields: [Field<Overrides>] = [
            Field("memoryRetryMultiplier", \.memoryRetryMultiplier, .range(1.0...100.0), "Memory retry factor for the new attempts.")
        ]
    }

    static let type = StageType<any Executor>(Config.self) { TerraExecutor(config: $0) }

    let config: Config
    var workspace: NamespacedName { config.workspace }
    var methodConfiguration: NamespacedName { config.methodConfiguration }

    var maxActive: Int? { config.maxActive }
    var maxSubmitPerTick: Int? { config.maxSubmitPerTick }

    func firecloud(_ context: StageContext) -> Firecloud {
        Firecloud(services: TerraServices(context.environment), workspace: workspace)
    }

    /// Terra keeps a workflow's logs in its own storage, behind its UI: the link goes there.
    func logLocation(of workflow: ActiveWorkflow, stream: LogStream, context: StageContext) async throws -> WorkflowLogLocation {
        var link = "https://app.terra.bio/#workspaces/\(workspace.path)/job_history"
        if let submission = workflow.submission { link += "/\(BackendClient.escape(submission))" }
        if let id = workflow.externalID, workflow.submission != nil { link += "/\(BackendClient.escape(id))" }
        return .unavailable("Terra keeps the workflow's logs; see its job history in the Terra UI", link: link)
    }

    /// This workload's own copy of the method configuration.
    func copyName(_ context: StageContext) -> NamespacedName {
        NamespacedName(
            namespace: methodConfiguration.namespace,
            name: "\(methodConfiguration.name)_wfl_\(context.workloadUUID.uuidString.lowercased().prefix(8))")
    }

    // MARK: Create

    func validatedConfig(_ context: StageContext) async throws -> JSONObject {
        let firecloud = firecloud(context)
        do {
            try await firecloud.describe()
        } catch {
            throw TerraServices.createError(error, field: "executor.workspace", what: "workspace", name: workspace.description)
        }
        let current: TerraMethodConfiguration
        do {
            current = try await firecloud.methodConfiguration(methodConfiguration)
        } catch {
            throw TerraServices.createError(
                error, field: "executor.methodConfiguration", what: "method configuration",
                name: "\(methodConfiguration) in workspace \(workspace)")
        }
        let version = current.version
        if let expected = config.methodConfigurationVersion, expected != version {
            throw LauncherError.invalid(
                "executor.methodConfigurationVersion",
                "method configuration \(methodConfiguration) is at version \(version), not \(expected): it was changed since you read it "
                    + "(a concurrent modification). Review the change, then create the workload with methodConfigurationVersion \(version).",
                ["expected": .int(Int64(expected)), "current": .int(Int64(version))])
        }
        var config = self.config
        config.methodConfigurationVersion = version
        return config.stored
    }

    func checkInputs(_ inputs: JSONObject) -> String? {
        guard let id = inputs["snapshotId"]?.stringValue, UUID(uuidString: id) != nil else {
            return "the Terra executor imports snapshots (fromSource \"importSnapshot\"): every item needs a \"snapshotId\""
        }
        return nil
    }

    func validateOverrides(_ overrides: JSONObject, at path: FieldPath) throws -> JSONObject {
        try Overrides.decode(
            overrides, at: path, context: .request, what: "the Terra executor's retry overrides (only memoryRetryMultiplier)"
        )
        .storedObject
    }

    // MARK: Terra vocabulary

    static func status(_ terra: String) -> WorkflowStatus? {
        switch terra {
        case "Queued", "Launching": .queued
        case "Submitted": .submitted
        case "Running": .running
        case "Aborting": .aborting
        case "Succeeded": .succeeded
        case "Failed": .failed
        case "Aborted": .aborted
        default: nil  // Unknown
        }
    }

    static func launchMarker(_ key: String) -> String { "Launch: \(key.lowercased())" }

    static func submission(marked marker: String, in submissions: [TerraSubmission]) -> TerraSubmission? {
        submissions.first { ($0.userComment ?? "").contains(marker) }
    }

    static func parseTime(_ text: String) -> Date? {
        try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
