import Foundation
import LauncherCore

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
            Field("methodConfiguration", \.methodConfiguration, required: true, "The method configuration in the workspace, \"namespace/name\"."),
            Field("methodConfigurationVersion", \.methodConfigurationVersion, .range(0...Int(Int32.max)),
                  "The version you expect; create fails if Firecloud's differs. Recorded at create when omitted."),
            Field("fromSource", \.fromSource, .text(max: 64, nonBlank: true), required: true,
                  "How items become submissions; \"importSnapshot\" (the only one)."),
            Field("memoryRetryMultiplier", \.memoryRetryMultiplier, .range(1.0...100.0),
                  "Passed to Terra: retry tasks that ran out of memory with this factor more."),
            Field("unknownTimeoutMinutes", \.unknownTimeoutMinutes, .above(0, max: 43_200), "Fail a workflow Terra reports as Unknown for this long."),
            Field("pollSeconds", \.pollSeconds, .seconds(allowZero: true, max: 86_400), "Seconds between status queries."),
            Field("maxActive", \.maxActive, .count(), "Most workflows of this workload active at once (counted per snapshot when launching)."),
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
            Field("memoryRetryMultiplier", \.memoryRetryMultiplier, .range(1.0...100.0), "Memory retry factor for the new attempts."),
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

    /// This workload's own copy of the method configuration.
    func copyName(_ context: StageContext) -> NamespacedName {
        NamespacedName(namespace: methodConfiguration.namespace,
                       name: "\(methodConfiguration.name)_wfl_\(context.workloadUUID.uuidString.lowercased().prefix(8))")
    }

    // MARK: Create

    func validatedConfig(_ context: StageContext) async throws -> JSONObject {
        let firecloud = firecloud(context)
        do {
            _ = try await firecloud.describe()
        } catch {
            throw TerraHTTP.createError(error, field: "executor.workspace", what: "workspace", name: workspace.description)
        }
        let current: JSONValue
        do {
            current = try await firecloud.methodConfiguration(methodConfiguration)
        } catch {
            throw TerraHTTP.createError(error, field: "executor.methodConfiguration", what: "method configuration",
                                        name: "\(methodConfiguration) in workspace \(workspace)")
        }
        let version = Int(current["methodConfigVersion"]?.intValue ?? 0)
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
        try Overrides.decode(overrides, at: path, context: .request, what: "the Terra executor's retry overrides (only memoryRetryMultiplier)")
            .storedObject
    }

    // MARK: Submit

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        let firecloud = firecloud(context)
        var outcomes: [UUID: SubmitOutcome] = [:]
        var earlier: [JSONValue]?
        if workflows.contains(where: \.mayExist) {
            do {
                earlier = try await firecloud.submissions()
            } catch {
                // Without the listing a relaunch could double-submit: wait for Firecloud.
                for workflow in workflows where workflow.mayExist {
                    outcomes[workflow.uuid] = .deferred("cannot list the workspace's submissions to check for an earlier launch: \(error)")
                }
            }
        }
        let pending = workflows.filter { outcomes[$0.uuid] == nil }
        let (retries, fresh) = (pending.filter { $0.inputs["entity"] != nil }, pending.filter { $0.inputs["entity"] == nil })
        let pointer = MethodConfigurationPointer(firecloud: firecloud, original: methodConfiguration, copy: copyName(context))

        for request in fresh {
            if request.mayExist, let found = Self.submission(marked: Self.launchMarker(request.uuid.uuidString), in: earlier ?? []) {
                outcomes[request.uuid] = await adopt(found, firecloud: firecloud, snapshot: request.inputs["snapshotId"]?.stringValue ?? "")
                continue
            }
            outcomes[request.uuid] = await launchSnapshot(request, pointer: pointer, context: context)
        }

        // Retries of one original submission, launched together, are retried together.
        let groups = Dictionary(grouping: retries) { "\($0.inputs["submission"]?.stringValue ?? "")|\($0.submission ?? "")" }
        for key in groups.keys.sorted() {
            for (uuid, outcome) in await relaunch(groups[key]!, earlier: earlier ?? [], pointer: pointer, context: context) {
                outcomes[uuid] = outcome
            }
        }
        return outcomes
    }

    private func launchSnapshot(_ request: LaunchRequest, pointer: MethodConfigurationPointer, context: StageContext) async -> SubmitOutcome {
        let snapshotID = request.inputs["snapshotId"]?.stringValue ?? ""
        let repo = DataRepo(services: pointer.firecloud.services)
        do {
            let snapshot: JSONValue
            do {
                snapshot = try await repo.snapshot(snapshotID)
            } catch let refused as TerraHTTP.Refused {
                return .failed(WorkflowError("Cannot access snapshot \(snapshotID): the data repository answered HTTP \(refused.status)"))
            }
            let name = snapshot["name"]?.stringValue ?? snapshotID
            let tables = (snapshot["tables"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            let reference = try await pointer.firecloud.snapshotReference(snapshotID: snapshotID, name: name)
            guard let referenceName = reference["metadata"]?["name"]?.stringValue else {
                return .deferred("Rawls returned a snapshot reference without metadata.name for snapshot \(snapshotID)")
            }
            let rootEntityType = try await pointer.point(reference: referenceName, tables: tables, snapshot: snapshotID)
            var submission: JSONObject = [
                "methodConfigurationNamespace": .string(pointer.copy.namespace), "methodConfigurationName": .string(pointer.copy.name),
                "useCallCache": true,
                "userComment": .string("New submission Workload: \(context.workloadUUID.uuidString.lowercased()) Snapshot ID: \(snapshotID) "
                                       + Self.launchMarker(request.uuid.uuidString)),
            ]
            if let factor = request.overrides["memoryRetryMultiplier"]?.doubleValue ?? config.memoryRetryMultiplier {
                submission["memoryRetryMultiplier"] = .double(factor)
            }
            let report = try await pointer.firecloud.submit(submission)
            return expansion(report, snapshotID: snapshotID, reference: referenceName, rootEntityType: rootEntityType)
        } catch let refused as TerraHTTP.Refused {
            return .failed(WorkflowError("Firecloud refused the submission of snapshot \(snapshotID) in workspace \(workspace): \(refused)"))
        } catch let error as LauncherError {
            return .failed(WorkflowError(error.message))
        } catch {
            return .deferred("\(error)")
        }
    }

    /// A submission found after a crash becomes what its launch would have returned.
    private func adopt(_ found: JSONValue, firecloud: Firecloud, snapshot: String) async -> SubmitOutcome {
        guard let id = found["submissionId"]?.stringValue else { return .deferred("a listed submission has no submissionId") }
        do {
            let submission = try await firecloud.submission(id)
            return expansion(submission, snapshotID: snapshot, reference: nil, rootEntityType: nil)
        } catch {
            return .deferred("found earlier submission \(id) but cannot read it: \(error)")
        }
    }

    private func expansion(_ report: JSONValue, snapshotID: String, reference: String?, rootEntityType: String?) -> SubmitOutcome {
        guard let submissionID = report["submissionId"]?.stringValue else {
            return .deferred("Firecloud's submission report has no submissionId")
        }
        let entries = report["workflows"]?.arrayValue ?? []
        guard !entries.isEmpty else {
            return .failed(WorkflowError("submission \(submissionID) of snapshot \(snapshotID) has no workflows (the snapshot's table is empty?)"))
        }
        let workflows = entries.map { entry -> ExpandedWorkflow in
            let entity = Self.entityName(entry) ?? ""
            let type = entry["workflowEntity"]?["entityType"]?.stringValue ?? rootEntityType
            let workflowID = entry["workflowId"]?.stringValue
            let status = entry["status"]?.stringValue.flatMap(Self.status) ?? .queued
            var inputs: JSONObject = ["snapshotId": .string(snapshotID), "entity": .string(entity), "submission": .string(submissionID)]
            if let type { inputs["entityType"] = .string(type) }
            if let reference { inputs["reference"] = .string(reference) }
            // A workflow already final (found after a crash) is polled once more for its outputs or error.
            return ExpandedWorkflow(externalID: workflowID, status: status.isFinal ? .running : status, inputs: inputs,
                                    details: ["entity": .string(entity), "terraSubmission": .string(submissionID)])
        }
        return .expanded(Expansion(submission: submissionID, workflows: workflows))
    }

    /// Retries of workflows from one original submission: Rawls' retry API when they are
    /// exactly its failed and/or aborted workflows (and no override needs a new request),
    /// otherwise one entity-level submission per workflow.
    private func relaunch(_ requests: [LaunchRequest], earlier: [JSONValue], pointer: MethodConfigurationPointer,
                          context: StageContext) async -> [UUID: SubmitOutcome] {
        let first = requests[0]
        let original = first.inputs["submission"]?.stringValue ?? ""
        let snapshotID = first.inputs["snapshotId"]?.stringValue ?? ""
        let groupMarker = Self.launchMarker(first.submission ?? first.uuid.uuidString)
        var outcomes: [UUID: SubmitOutcome] = [:]
        let firecloud = pointer.firecloud

        // After a crash: a group retry or an entity-level retry that already reached Terra.
        if requests.contains(where: \.mayExist) {
            var candidates = [Self.submission(marked: groupMarker, in: earlier)].compactMap { $0 }
            for request in requests {
                if let found = Self.submission(marked: Self.launchMarker(request.uuid.uuidString), in: earlier) { candidates.append(found) }
            }
            for found in candidates {
                guard let id = found["submissionId"]?.stringValue else { continue }
                let submission: JSONValue
                do {
                    submission = try await firecloud.submission(id)
                } catch {
                    // Unreadable now: relaunching could duplicate it, so wait.
                    for request in requests where outcomes[request.uuid] == nil {
                        outcomes[request.uuid] = .deferred("found earlier submission \(id) but cannot read it: \(error)")
                    }
                    return outcomes
                }
                for entry in submission["workflows"]?.arrayValue ?? [] {
                    guard let entity = Self.entityName(entry),
                          let request = requests.first(where: { $0.inputs["entity"]?.stringValue == entity }), outcomes[request.uuid] == nil
                    else { continue }
                    outcomes[request.uuid] = .launched(Self.launched(entry, submission: id, entity: entity, note: "found after a restart"))
                }
            }
        }
        let remaining = requests.filter { outcomes[$0.uuid] == nil }
        guard !remaining.isEmpty else { return outcomes }

        do {
            if let reference = first.inputs["reference"]?.stringValue, let type = first.inputs["entityType"]?.stringValue {
                _ = try await pointer.point(reference: reference, tables: [type], snapshot: snapshotID)
            } else {
                // Adopted after a crash without a recorded reference: import the snapshot again (409 reuses it).
                let snapshot = try await DataRepo(services: firecloud.services).snapshot(snapshotID)
                let reference = try await firecloud.snapshotReference(snapshotID: snapshotID, name: snapshot["name"]?.stringValue ?? snapshotID)
                let tables = (snapshot["tables"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
                _ = try await pointer.point(reference: reference["metadata"]?["name"]?.stringValue ?? "", tables: tables, snapshot: snapshotID)
            }
            let comment = "Retry Workload: \(context.workloadUUID.uuidString.lowercased()) Snapshot ID: \(snapshotID)"
            if remaining.count == requests.count, remaining.allSatisfy({ $0.overrides.isEmpty }),
               let retryType = try await Self.retryType(for: Set(remaining.compactMap { $0.inputs["entity"]?.stringValue }),
                                                        original: original, firecloud: firecloud) {
                let report = try await firecloud.retry(original, retryType: retryType)
                guard let id = report["submissionId"]?.stringValue else { throw TerraHTTP.Unavailable(description: "Rawls' retry report has no submissionId") }
                // Rawls keeps no comment of ours on a retried submission: add it for crash recovery.
                try? await firecloud.setComment(id, "\(comment) Original: \(original) \(groupMarker)")
                let entries = report["workflows"]?.arrayValue ?? []
                for request in remaining {
                    let entity = request.inputs["entity"]?.stringValue ?? ""
                    let entry = entries.first { Self.entityName($0) == entity } ?? ["entityName": .string(entity)]
                    outcomes[request.uuid] = .launched(Self.launched(entry, submission: id, entity: entity, note: "Rawls retry of \(original) (\(retryType))"))
                }
                return outcomes
            }
            for request in remaining {
                let entity = request.inputs["entity"]?.stringValue ?? ""
                var body: JSONObject = [
                    "methodConfigurationNamespace": .string(pointer.copy.namespace), "methodConfigurationName": .string(pointer.copy.name),
                    "entityType": .string(request.inputs["entityType"]?.stringValue ?? ""), "entityName": .string(entity),
                    "useCallCache": true, "userComment": .string("\(comment) \(Self.launchMarker(request.uuid.uuidString))"),
                ]
                if let factor = request.overrides["memoryRetryMultiplier"]?.doubleValue ?? config.memoryRetryMultiplier {
                    body["memoryRetryMultiplier"] = .double(factor)
                }
                do {
                    let report = try await firecloud.submit(body)
                    guard let id = report["submissionId"]?.stringValue else {
                        outcomes[request.uuid] = .deferred("Firecloud's submission report has no submissionId")
                        continue
                    }
                    let entry = report["workflows"]?.arrayValue?.first ?? ["entityName": .string(entity)]
                    outcomes[request.uuid] = .launched(Self.launched(entry, submission: id, entity: entity, note: "entity-level resubmission"))
                } catch let refused as TerraHTTP.Refused {
                    outcomes[request.uuid] = .failed(WorkflowError("Firecloud refused resubmitting entity \(entity): \(refused)"))
                } catch {
                    outcomes[request.uuid] = .deferred("\(error)")
                }
            }
        } catch {
            let outcome: SubmitOutcome = error is TerraHTTP.Refused
                ? .failed(WorkflowError("cannot retry in workspace \(workspace): \(error)")) : .deferred("\(error)")
            for request in remaining where outcomes[request.uuid] == nil { outcomes[request.uuid] = outcome }
        }
        return outcomes
    }

    /// "Failed", "Aborted" or "FailedAndAborted" when `entities` are exactly that set of the
    /// original submission's workflows; nil when Rawls' retry would relaunch others too.
    static func retryType(for entities: Set<String>, original: String, firecloud: Firecloud) async throws -> String? {
        let submission = try await firecloud.submission(original)
        var failed = Set<String>(), aborted = Set<String>()
        for entry in submission["workflows"]?.arrayValue ?? [] {
            guard let entity = Self.entityName(entry) else { continue }
            switch entry["status"]?.stringValue {
            case "Failed": failed.insert(entity)
            case "Aborted": aborted.insert(entity)
            default: break
            }
        }
        if !failed.isEmpty && entities == failed { return "Failed" }
        if !aborted.isEmpty && entities == aborted { return "Aborted" }
        if !failed.isEmpty && !aborted.isEmpty && entities == failed.union(aborted) { return "FailedAndAborted" }
        return nil
    }

    static func launched(_ entry: JSONValue, submission: String, entity: String, note: String) -> Launched {
        let status = entry["status"]?.stringValue.flatMap(Self.status) ?? .queued
        return Launched(externalID: entry["workflowId"]?.stringValue, submission: submission,
                        status: status.isFinal || status == .aborting ? .queued : status,
                        details: ["entity": .string(entity), "terraSubmission": .string(submission), "launch": .string(note)])
    }

    // MARK: Poll

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        let firecloud = firecloud(context)
        let now = Date()
        var updates: [WorkflowUpdate] = []
        var problems: [String] = []
        var matched: [(workflow: ActiveWorkflow, entry: JSONValue, submission: String)] = []
        let bySubmission = Dictionary(grouping: workflows) { $0.submission ?? "" }
        // One read per submission lists all its workflows; a few submissions are read at once.
        let reads = await forEach(bySubmission.keys.sorted(), limit: 8) { id in await attempt { try await firecloud.submission(id) } }
        for (submissionID, read) in reads {
            let members = bySubmission[submissionID]!
            let submission: JSONValue
            switch read {
            case .success(let value):
                submission = value
            case .failure(let refused as TerraHTTP.Refused) where refused.status == 404:
                for workflow in members {
                    updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .failed,
                                                  error: .infrastructure("Terra has no submission \(submissionID) in workspace \(workspace)")))
                }
                continue
            case .failure(let error):
                problems.append("\(error)")  // unknown: ask again next time
                continue
            }
            let entries = Dictionary((submission["workflows"]?.arrayValue ?? []).compactMap { entry in Self.entityName(entry).map { ($0, entry) } },
                                     uniquingKeysWith: { _, newer in newer })
            let submissionOver = ["Done", "Aborted"].contains(submission["status"]?.stringValue ?? "")
            for workflow in members {
                let entity = workflow.details["entity"]?.stringValue ?? ""
                if let entry = entries[entity] {
                    matched.append((workflow, entry, submissionID))
                } else if submissionOver {
                    updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .failed, error: .infrastructure(
                        "Terra's submission \(submissionID) has no workflow for entity \(entity) (it lists \(entries.count))")))
                }
            }
        }
        // Succeeded workflows need their outputs read, one call each: a few at once.
        for (_, update) in await forEach(matched, limit: 8, { item in
            await self.update(for: item.workflow, entry: item.entry, submission: item.submission, now: now, firecloud: firecloud)
        }) {
            if let update { updates.append(update) }
        }
        if updates.isEmpty, let problem = problems.first, problems.count == bySubmission.count {
            throw TerraHTTP.Unavailable(description: problem)
        }
        return PollResult(updates: updates, nextPoll: now.addingTimeInterval(config.pollSeconds))
    }

    private func update(for workflow: ActiveWorkflow, entry: JSONValue, submission: String, now: Date,
                        firecloud: Firecloud) async -> WorkflowUpdate? {
        let workflowID = entry["workflowId"]?.stringValue
        let newID = workflowID != nil && workflowID != workflow.externalID ? workflowID : nil
        let terraStatus = entry["status"]?.stringValue ?? "Unknown"
        guard let status = Self.status(terraStatus) else {
            // Unknown (or a status this launcher does not know): wait, but not forever.
            guard let since = workflow.details["unknownSince"]?.stringValue.flatMap(Self.parseTime) else {
                return WorkflowUpdate(uuid: workflow.uuid, status: workflow.status, externalID: newID,
                                      details: ["unknownSince": .string(Timestamp.format(now)), "terraStatus": .string(terraStatus)])
            }
            guard now.timeIntervalSince(since) >= config.unknownTimeoutMinutes * 60 else {
                return newID.map { WorkflowUpdate(uuid: workflow.uuid, status: workflow.status, externalID: $0) }
            }
            return WorkflowUpdate(uuid: workflow.uuid, status: .failed, externalID: newID, error: .infrastructure(
                "Terra has reported this workflow as \(terraStatus) since \(Timestamp.format(since)); "
                    + "gave up after \(Constraint.numberText(config.unknownTimeoutMinutes)) minutes (unknownTimeoutMinutes)"))
        }
        var details: JSONObject = [:]
        if workflow.details["unknownSince"] != nil { details["unknownSince"] = .null }
        switch status {
        case .succeeded:
            guard let id = workflowID ?? workflow.externalID else { return nil }
            do {
                let outputs = try await firecloud.outputs(submission: submission, workflow: id)
                return WorkflowUpdate(uuid: workflow.uuid, status: .succeeded, externalID: newID,
                                      outputs: Self.outputs(outputs), details: details)
            } catch {
                return nil  // outputs unreadable now: ask again
            }
        case .failed:
            let messages = (entry["messages"]?.arrayValue ?? []).compactMap(\.stringValue)
            let message = messages.isEmpty ? "Terra reported the workflow Failed" : messages.joined(separator: "; ")
            return WorkflowUpdate(uuid: workflow.uuid, status: .failed, externalID: newID, details: details, error: WorkflowError(message))
        default:
            guard status != workflow.status || newID != nil || !details.isEmpty else { return nil }
            return WorkflowUpdate(uuid: workflow.uuid, status: status, externalID: newID, details: details)
        }
    }

    /// `{"tasks": {"wf": {"outputs": {"wf.out": v}}}}` → `{"out": v}`.
    static func outputs(_ response: JSONValue) -> JSONObject {
        var result: JSONObject = [:]
        for (name, task) in response["tasks"]?.objectValue ?? [:] {
            for (key, value) in task["outputs"]?.objectValue ?? [:] {
                let short = key.hasPrefix("\(name).") ? String(key.dropFirst(name.count + 1)) : key
                result[short] = value
            }
        }
        return result
    }

    // MARK: Abort

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        let firecloud = firecloud(context)
        var updates: [WorkflowUpdate] = []
        var listing: [JSONValue]?
        var aborted: [String: Bool] = [:]  // submission → deleted (true) or already gone (false)
        for workflow in workflows {
            var submissionID = workflow.submission
            if workflow.status == .pending {
                // A launch that may have reached Terra before a crash: find it by its marker.
                if listing == nil { listing = try await firecloud.submissions() }
                submissionID = Self.submission(marked: Self.launchMarker(workflow.uuid.uuidString), in: listing ?? [])?["submissionId"]?.stringValue
                guard let submissionID else {
                    updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .aborted))
                    continue
                }
                _ = try await abortOnce(submissionID, firecloud: firecloud, done: &aborted)
                updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .aborted, details: ["terraSubmission": .string(submissionID)]))
                continue
            }
            guard let submissionID else {
                updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .aborted))
                continue
            }
            let existed = try await abortOnce(submissionID, firecloud: firecloud, done: &aborted)
            updates.append(WorkflowUpdate(uuid: workflow.uuid, status: existed ? .aborting : .aborted))
        }
        return updates
    }

    private func abortOnce(_ id: String, firecloud: Firecloud, done: inout [String: Bool]) async throws -> Bool {
        if let known = done[id] { return known }
        do {
            try await firecloud.abort(id)
            done[id] = true
        } catch let refused as TerraHTTP.Refused where refused.status == 404 {
            done[id] = false
        }
        return done[id]!
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

    static func entityName(_ entry: JSONValue) -> String? {
        entry["workflowEntity"]?["entityName"]?.stringValue ?? entry["entityName"]?.stringValue
    }

    static func launchMarker(_ key: String) -> String { "Launch: \(key.lowercased())" }

    static func submission(marked marker: String, in submissions: [JSONValue]) -> JSONValue? {
        submissions.first { ($0["userComment"]?.stringValue ?? "").contains(marker) }
    }

    static func parseTime(_ text: String) -> Date? {
        try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// Points this workload's copy of the method configuration at a snapshot reference, creating
/// the copy from the original the first time. Calls for one workload run one at a time (the
/// workload's update lock), and no other workload uses the copy, so nothing races.
struct MethodConfigurationPointer: Sendable {
    let firecloud: Firecloud
    let original: NamespacedName
    let copy: NamespacedName

    /// Returns the root entity type used: the snapshot's only table, or the configuration's
    /// current one when it is among the snapshot's tables.
    func point(reference: String, tables: [String], snapshot: String) async throws -> String {
        var current: JSONValue
        var exists = true
        do {
            current = try await firecloud.methodConfiguration(copy)
        } catch let refused as TerraHTTP.Refused where refused.status == 404 {
            current = try await firecloud.methodConfiguration(original)
            exists = false
        }
        let root: String
        if tables.count == 1 {
            root = tables[0]
        } else if let configured = current["rootEntityType"]?.stringValue, tables.contains(configured) {
            root = configured
        } else {
            throw LauncherError.invalid("executor.methodConfiguration", "snapshot \(snapshot) has tables \(tables.joined(separator: ", ")); "
                                        + "set the method configuration's rootEntityType to one of them or use a snapshot with one table")
        }
        guard var body = current.objectValue else { throw TerraHTTP.Unavailable(description: "Firecloud returned a malformed method configuration") }
        body["namespace"] = .string(copy.namespace)
        body["name"] = .string(copy.name)
        body["dataReferenceName"] = .string(reference)
        body["rootEntityType"] = .string(root)
        if exists {
            body["methodConfigVersion"] = .int((current["methodConfigVersion"]?.intValue ?? 0) + 1)
            try await firecloud.updateMethodConfiguration(copy, .object(body))
        } else {
            body["methodConfigVersion"] = 1
            do {
                try await firecloud.createMethodConfiguration(.object(body))
            } catch let refused as TerraHTTP.Refused where refused.status == 409 {
                try await firecloud.updateMethodConfiguration(copy, .object(body))  // created by an attempt a crash cut short
            }
        }
        return root
    }
}
