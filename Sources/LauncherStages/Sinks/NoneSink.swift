import Foundation
import LauncherCore

/// `{"name": "None"}`: consumes succeeded workflows and delivers nothing.
struct NoneSink: Sink {
    static let type = StageType<any Sink>(
        name: "None", summary: "Consumes succeeded workflows and delivers nothing (outputs stay queryable).", fields: []
    ) { _ in NoneSink() }

    var config: JSONObject { ["name": "None"] }

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        Dictionary(uniqueKeysWithValues: workflows.map { ($0.uuid, DeliveryOutcome.delivered) })
    }
}
