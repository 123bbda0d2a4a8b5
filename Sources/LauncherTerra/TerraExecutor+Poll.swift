import Foundation
import LauncherCore
import LauncherStageSupport

extension TerraExecutor {
    // MARK: Poll

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        let firecloud = firecloud(context)
        let now = Date()
        var updates: [WorkflowUpdate] = []
        var problems: [String] = []
        var matched: [(workflow: ActiveWorkflow, entry: TerraSubmission.Workflow, submission: String)] = []
        let bySubmission = Dictionary(grouping: workflows) { $0.submission ?? "" }
        // One read per submission lists all its workflows; a few submissions are read at once.
        let reads = await forEach(bySubmission.keys.sorted(), limit: 8) { id in await attempt { try await firecloud.submission(id) } }
        for (submissionID, read) in reads {
            let members = bySubmission[submissionID]!
            let submission: TerraSubmission
            switch read {
            case .success(let value):
                submission = value
            case .failure(BackendError.refused(_, 404, _)):
                for workflow in members {
                    updates.append(
                        WorkflowUpdate(
                            uuid: workflow.uuid, status: .failed,
                            error: .infrastructure("Terra has no submission \(submissionID) in workspace \(workspace)")))
                }
                continue
            case .failure(let error):
                problems.append("\(error)")  // unknown: ask again next time
                continue
            }
            let entries = Dictionary(
                (submission.workflows ?? []).compactMap { entry in entry.entity.map { ($0, entry) } },
                uniquingKeysWith: { _, newer in newer })
            let submissionOver = ["Done", "Aborted"].contains(submission.status ?? "")
            for workflow in members {
                let entity = workflow.details["entity"]?.stringValue ?? ""
                if let entry = entries[entity] {
                    matched.append((workflow, entry, submissionID))
                } else if submissionOver {
                    updates.append(
                        WorkflowUpdate(
                            uuid: workflow.uuid, status: .failed,
                            error: .infrastructure(
                                "Terra's submission \(submissionID) has no workflow for entity \(entity) (it lists \(entries.count))")))
                }
            }
        }
        // Succeeded workflows need their outputs read, one call each: a few at once.
        for (_, update) in await forEach(
            matched, limit: 8,
            { item in
                await self.update(for: item.workflow, entry: item.entry, submission: item.submission, now: now, firecloud: firecloud)
            })
        {
            if let update { updates.append(update) }
        }
        if updates.isEmpty, let problem = problems.first, problems.count == bySubmission.count {
            throw BackendError.unavailable(service: "Firecloud", reason: problem)
        }
        return PollResult(updates: updates, nextPoll: now.addingTimeInterval(config.pollSeconds))
    }

    private func update(
        for workflow: ActiveWorkflow, entry: TerraSubmission.Workflow, submission: String, now: Date,
        firecloud: Firecloud
    ) async -> WorkflowUpdate? {
        let workflowID = entry.workflowId
        let newID = workflowID != nil && workflowID != workflow.externalID ? workflowID : nil
        let terraStatus = entry.status ?? "Unknown"
        guard let status = Self.status(terraStatus) else {
            // Unknown (or a status this launcher does not know): wait, but not forever.
            guard let since = workflow.details["unknownSince"]?.stringValue.flatMap(Self.parseTime) else {
                return WorkflowUpdate(
                    uuid: workflow.uuid, status: workflow.status, externalID: newID,
                    details: ["unknownSince": .string(Timestamp.format(now)), "terraStatus": .string(terraStatus)])
            }
            guard now.timeIntervalSince(since) >= config.unknownTimeoutMinutes * 60 else {
                return newID.map { WorkflowUpdate(uuid: workflow.uuid, status: workflow.status, externalID: $0) }
            }
            return WorkflowUpdate(
                uuid: workflow.uuid, status: .failed, externalID: newID,
                error: .infrastructure(
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
                return WorkflowUpdate(
                    uuid: workflow.uuid, status: .succeeded, externalID: newID,
                    outputs: outputs.flattened, details: details)
            } catch {
                return nil  // outputs unreadable now: ask again
            }
        case .failed:
            let messages = (entry.messages ?? []).map { BackendError.sanitise($0) }
            let message = messages.isEmpty ? "Terra reported the workflow Failed" : messages.joined(separator: "; ")
            return WorkflowUpdate(uuid: workflow.uuid, status: .failed, externalID: newID, details: details, error: WorkflowError(message))
        default:
            guard status != workflow.status || newID != nil || !details.isEmpty else { return nil }
            return WorkflowUpdate(uuid: workflow.uuid, status: status, externalID: newID, details: details)
        }
    }
}
