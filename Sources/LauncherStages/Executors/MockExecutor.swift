import Foundation
import LauncherCore
import LauncherStageSupport

/// `{"name": "Mock", "delaySeconds"?: n, "failWhen"?: {"field": value, …}}`
///
/// Runs nothing. Each workflow succeeds with outputs equal to its inputs — at once, or after
/// `delaySeconds` during which it reports Running — or fails when its inputs match every pair
/// in `failWhen`. For dry runs, demos, benchmarks, and exercising failure and retry paths.
struct MockExecutor: Executor, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Mock"
        static let summary = "Runs nothing: succeeds with outputs = inputs (at once or after a delay), or fails items matching a rule."

        var delaySeconds = 0.0
        var failWhen: JSONObject?

        static let fields: [Field<Config>] = [
            Field("delaySeconds", \.delaySeconds, .seconds(allowZero: true), "Seconds each workflow reports Running before it finishes."),
            Field("failWhen", \.failWhen, .freeForm(), "Fail items whose inputs match every field: value pair given here."),
        ]
    }

    static let type = StageType<any Executor>(Config.self) { MockExecutor(config: $0) }

    let config: Config

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        var outcomes: [UUID: SubmitOutcome] = [:]
        outcomes.reserveCapacity(workflows.count)
        for workflow in workflows {
            let fails = matches(workflow.inputs)
            let externalID = "mock-\(workflow.uuid.uuidString.lowercased())"
            if config.delaySeconds > 0 {
                outcomes[workflow.uuid] = .launched(
                    Launched(
                        externalID: externalID, status: .running,
                        details: ["willFail": .bool(fails), "inputs": .object(workflow.inputs)]))
            } else if fails {
                outcomes[workflow.uuid] = .launched(Launched(externalID: externalID, status: .failed, error: failure))
            } else {
                outcomes[workflow.uuid] = .launched(Launched(externalID: externalID, status: .succeeded, outputs: workflow.inputs))
            }
        }
        return outcomes
    }

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        let now = Date()
        var updates: [WorkflowUpdate] = []
        var earliest: Date?
        for workflow in workflows {
            let due = (workflow.submitted ?? now).addingTimeInterval(config.delaySeconds)
            guard due <= now else {
                earliest = min(earliest ?? due, due)
                continue
            }
            if workflow.status == .aborting {
                updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .aborted))
            } else if workflow.details["willFail"]?.boolValue == true {
                updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .failed, error: failure))
            } else {
                updates.append(
                    WorkflowUpdate(
                        uuid: workflow.uuid, status: .succeeded,
                        outputs: workflow.details["inputs"]?.objectValue ?? [:]))
            }
        }
        return PollResult(updates: updates, nextPoll: earliest)
    }

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        workflows.map { WorkflowUpdate(uuid: $0.uuid, status: .aborted) }
    }

    private var failure: WorkflowError {
        WorkflowError("Mock failure: inputs match failWhen \(JSONValue.object(config.failWhen ?? [:]))")
    }

    private func matches(_ inputs: JSONObject) -> Bool {
        guard let failWhen = config.failWhen, !failWhen.isEmpty else { return false }
        return failWhen.allSatisfy { key, value in inputs[key] == value }
    }
}
