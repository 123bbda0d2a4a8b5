import LauncherCore
import LauncherStageSupport

/// SLURM job states and what they mean for a workflow.
enum SlurmState {
    /// The launcher status for a job SLURM still reports, or nil for finished states (which
    /// need the exit file and the state together: see `SlurmExecutor.finished`).
    static func activeStatus(_ state: String) -> WorkflowStatus? {
        switch state {
        case "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING":
            return .queued
        case "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "STAGE_OUT":
            return .running
        default:
            return nil
        }
    }

    /// Failures of the machinery, not of the command: retry them without blaming the tool.
    static let infrastructure: Set<String> = ["NODE_FAIL", "BOOT_FAIL", "PREEMPTED"]

    /// What a user should read for each failure state.
    static func explanation(_ state: String) -> String {
        switch state {
        case "TIMEOUT": "the job exceeded its time limit"
        case "OUT_OF_MEMORY": "the job exceeded its memory limit"
        case "NODE_FAIL": "the node running the job failed"
        case "BOOT_FAIL": "the node failed to boot"
        case "PREEMPTED": "the job was preempted"
        case "DEADLINE": "the job missed its deadline"
        case "CANCELLED": "the job was cancelled outside the launcher"
        case "FAILED": "the job failed"
        default: "the job ended in state \(state)"
        }
    }

    /// sacct writes "CANCELLED by 0": the state is the first word.
    static func normalise(_ raw: String) -> String {
        String(raw.split(separator: " ").first ?? "").uppercased()
    }
}
