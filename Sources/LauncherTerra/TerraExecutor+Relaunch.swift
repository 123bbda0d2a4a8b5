import Foundation
import LauncherCore
import LauncherStageSupport

extension TerraExecutor {
    /// Retries of workflows from one original submission: Rawls' retry API when they are
    /// exactly its failed and/or aborted workflows (and no override needs a new request),
    /// otherwise one entity-level submission per workflow.
    func relaunch(
        _ requests: [LaunchRequest], earlier: [TerraSubmission], pointer: MethodConfigurationPointer,
        context: StageContext
    ) async -> [UUID: SubmitOutcome] {
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
                guard let id = found.submissionId else { continue }
                let submission: TerraSubmission
                do {
                    submission = try await firecloud.submission(id)
                } catch {
                    // Unreadable now: relaunching could duplicate it, so wait.
                    for request in requests where outcomes[request.uuid] == nil {
                        outcomes[request.uuid] = .deferred("found earlier submission \(id) but cannot read it: \(error)")
                    }
                    return outcomes
                }
                for entry in submission.workflows ?? [] {
                    guard let entity = entry.entity,
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
                let reference = try await firecloud.snapshotReference(snapshotID: snapshotID, name: snapshot.name ?? snapshotID)
                let tables = (snapshot.tables ?? []).compactMap(\.name)
                _ = try await pointer.point(reference: reference.metadata?.name ?? "", tables: tables, snapshot: snapshotID)
            }
            let comment = "Retry Workload: \(context.workloadUUID.uuidString.lowercased()) Snapshot ID: \(snapshotID)"
            if remaining.count == requests.count, remaining.allSatisfy({ $0.overrides.isEmpty }),
                let retryType = try await Self.retryType(
                    for: Set(remaining.compactMap { $0.inputs["entity"]?.stringValue }),
                    original: original, firecloud: firecloud)
            {
                let report = try await firecloud.retry(original, retryType: retryType)
                guard let id = report.submissionId else {
                    throw BackendError.unavailable(service: "Rawls", reason: "Rawls' retry report has no submissionId")
                }
                // Rawls keeps no comment of ours on a retried submission: add it for crash recovery.
                try? await firecloud.setComment(id, "\(comment) Original: \(original) \(groupMarker)")
                let entries = report.workflows ?? []
                for request in remaining {
                    let entity = request.inputs["entity"]?.stringValue ?? ""
                    let entry = entries.first { $0.entity == entity } ?? TerraSubmission.Workflow(entityName: entity)
                    outcomes[request.uuid] = .launched(
                        Self.launched(entry, submission: id, entity: entity, note: "Rawls retry of \(original) (\(retryType))"))
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
                    guard let id = report.submissionId else {
                        outcomes[request.uuid] = .deferred("Firecloud's submission report has no submissionId")
                        continue
                    }
                    let entry = report.workflows?.first ?? TerraSubmission.Workflow(entityName: entity)
                    outcomes[request.uuid] = .launched(
                        Self.launched(entry, submission: id, entity: entity, note: "entity-level resubmission"))
                } catch let refused as BackendError where refused.isRefused {
                    outcomes[request.uuid] = .failed(WorkflowError("Firecloud refused resubmitting entity \(entity): \(refused)"))
                } catch {
                    outcomes[request.uuid] = .deferred("\(error)")
                }
            }
        } catch {
            let outcome: SubmitOutcome =
                (error as? BackendError)?.isRefused == true
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
        for entry in submission.workflows ?? [] {
            guard let entity = entry.entity else { continue }
            switch entry.status {
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

    static func launched(_ entry: TerraSubmission.Workflow, submission: String, entity: String, note: String) -> Launched {
        let status = entry.status.flatMap(Self.status) ?? .queued
        return Launched(
            externalID: entry.workflowId, submission: submission,
            status: status.isFinal || status == .aborting ? .queued : status,
            details: ["entity": .string(entity), "terraSubmission": .string(submission), "launch": .string(note)])
    }
}
