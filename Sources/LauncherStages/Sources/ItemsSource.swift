import LauncherCore
import LauncherStageSupport

/// `{"name": "Items", "items": [{…inputs…}, …]}`: a fixed list of inputs given in the request.
///
/// The items go into the source queue in the workload's create transaction; the workload
/// keeps only their count (`itemCount`), so loading it stays cheap however long the list was.
struct ItemsSource: Source, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Items"
        static let summary = "A fixed list of input objects given in the request; one workflow per item."

        var items: [WorkflowInputs] = []
        var itemCount = 0

        static let fields: [Field<Config>] = [
            Field(
                "items", \.items, .list(max: Limits.maxItems), required: true, presence: .requestOnly,
                "The items: one object of inputs each."),
            Field("itemCount", \.itemCount, .range(0...Int(Int32.max)), presence: .storedOnly, "How many items the request listed."),
        ]

        mutating func finish(at path: FieldPath, context: ConfigContext) throws {
            if context.origin == .request { itemCount = items.count }
        }
    }

    static let type = StageType<any Source>(Config.self) { ItemsSource(config: $0) }

    let config: Config

    func initialItems() -> [JSONValue] { config.items.map { .object($0.inputs) } }
}
