import Foundation
import LauncherCore
import LauncherStageSupport

extension TerraExecutor {
    // MARK: Submit

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        let firecloud = firecloud(context)
        var outcomes: [UUID: SubmitOutcome] = [:]
        var earlier: [TerraSubmission]?
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

    func launchSnapshot(_ request: LaunchRequest, pointer: MethodConfigurationPointer, context: StageContext) async -> SubmitOutcome {
        let snapshotID = request.inputs["snapshotId"]?.stringValue ?? ""
        let repo = DataRepo(services: pointer.firecloud.services)
        do {
            let snapshot: TDRSnapshot
            do {
                snapshot = try await repo.snapshot(snapshotID)
            } catch BackendError.refused(_, let status, _) {
                return .failed(WorkflowError("Cannot access snapshot \(snapshotID): the data repository answered HTTP \(status)"))
            }
            let name = snapshot.name ?? snapshotID
            let tables = (snapshot.tables ?? []).compactMap(\.name)
            let reference = try await pointer.firecloud.snapshotReference(snapshotID: snapshotID, name: name)
            guard let referenceName = reference.metadata?.name else {
                return .deferred("Rawls returned a snapshot reference without metadata.name for snapshot \(snapshotID)")
            }
            let rootEntityType = try await pointer.point(reference: referenceName, tables: tables, snapshot: snapshotID)
            var submission: JSONObject = [
                "methodConfigurationNamespace": .string(pointer.copy.namespace), "methodConfigurationName": .string(pointer.copy.name),
                "useCallCache": true,
                "userComment": .string(
                    "New submission Workload: \(context.workloadUUID.uuidString.lowercased()) Snapshot ID: \(snapshotID) "
                        + Self.launchMarker(request.uuid.uuidString)),
            ]
            if let factor = request.overrides["memoryRetryMultiplier"]?.doubleValue ?? config.memoryRetryMultiplier {
                submission["memoryRetryMultiplier"] = .double(factor)
            }
            let report = try await pointer.firecloud.submit(submission)
            return expansion(report, snapshotID: snapshotID, reference: referenceName, rootEntityType: rootEntityType)
        } catch let refused as BackendError where refused.isRefused {
            return .failed(
                WorkflowError("Firecloud refused the submission of snapshot \(snapshotID) in workspace \(workspace): \(refused)"))
        } catch let error as LauncherError {
            return .failed(WorkflowError(error.message))
        } catch {
            return .deferred("\(error)")
        }
    }

    /// A submission found after a crash becomes what its launch would have returned.
    func adopt(_ found: TerraSubmission, firecloud: Firecloud, snapshot: String) async -> SubmitOutcome {
        guard let id = found.submissionId else { return .deferred("a listed submission has no submissionId") }
        do {
            let submission = try await firecloud.submission(id)
            return expansion(submission, snapshotID: snapshot, reference: nil, rootEntityType: nil)
        } catch {
            return .deferred("found earlier submission \(id) but cannot read it: \(error)")
        }
    }

    func expansion(_ report: TerraSubmission, snapshotID: String, reference: String?, rootEntityType: String?) -> SubmitOutcome {
        guard let submissionID = report.submissionId else {
            return .deferred("Firecloud's submission report has no submissionId")
        }
        let entries = report.workflows ?? []
        guard !entries.isEmpty else {
            return .failed(
                WorkflowError("submission \(submissionID) of snapshot \(snapshotID) has no workflows (the snapshot's table is empty?)"))
        }
        let workflows = entries.map { entry -> ExpandedWorkflow in
            let entity = entry.entity ?? ""
            let type = entry.entityType ?? rootEntityType
            let workflowID = entry.workflowId
            let status = entry.status.flatMap(Self.status) ?? .queued
            var inputs: JSONObject = ["snapshotId": .string(snapshotID), "entity": .string(entity), "submission": .string(submissionID)]
            if let type { inputs["entityType"] = .string(type) }
            if let reference { inputs["reference"] = .string(reference) }
            // A workflow already final (found after a crash) is polled once more for its outputs or error.
            return ExpandedWorkflow(
                externalID: workflowID, status: status.isFinal ? .running : status, inputs: inputs,
                details: ["entity": .string(entity), "terraSubmission": .string(submissionID)])
        }
        return .expanded(Expansion(submission: submissionID, workflows: workflows))
    }
}
