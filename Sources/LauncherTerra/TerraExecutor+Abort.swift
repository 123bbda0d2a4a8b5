import Foundation
import LauncherCore
import LauncherStageSupport

extension TerraExecutor {
    // MARK: Abort

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        let firecloud = firecloud(context)
        var updates: [WorkflowUpdate] = []
        var listing: [TerraSubmission]?
        var aborted: [String: Bool] = [:]  // submission → deleted (true) or already gone (false)
        for workflow in workflows {
            var submissionID = workflow.submission
            if workflow.status == .pending {
                // A launch that may have reached Terra before a crash: find it by its marker.
                if listing == nil { listing = try await firecloud.submissions() }
                submissionID = Self.submission(marked: Self.launchMarker(workflow.uuid.uuidString), in: listing ?? [])?.submissionId
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
        } catch BackendError.refused(_, 404, _) {
            done[id] = false
        }
        return done[id]!
    }
}
