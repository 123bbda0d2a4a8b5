import Foundation
import LauncherCore
import LauncherStageSupport

/// `{"name": "None"}`: consumes succeeded workflows and delivers nothing.
struct NoneSink: Sink, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "None"
        static let summary = "Consumes succeeded workflows and delivers nothing (outputs stay queryable)."
        static let fields: [Field<Config>] = []
    }

    static let type = StageType<any Sink>(Config.self) { NoneSink(config: $0) }

    let config: Config

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        Dictionary(uniqueKeysWithValues: workflows.map { ($0.uuid, DeliveryOutcome.delivered) })
    }
}
