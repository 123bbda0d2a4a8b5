import Foundation
import LauncherCore
import LauncherStageSupport

/// `{"name": "TDR Snapshots", "snapshots": ["<snapshot id>", …]}`: a fixed list of
/// data-repository snapshots, each checked at create; one item per snapshot.
struct TDRSnapshotsSource: Source, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "TDR Snapshots"
        static let summary = "A fixed list of Terra Data Repository snapshots; each is checked at create and becomes one item."

        var snapshots: [DataRepoID] = []

        static let fields: [Field<Config>] = [
            Field("snapshots", \.snapshots, .list(min: 1, max: 100_000, unique: true), required: true, "Snapshot ids (UUIDs).")
        ]
    }

    static let type = StageType<any Source>(Config.self) { TDRSnapshotsSource(config: $0) }

    let config: Config
    var snapshots: [String] { config.snapshots.map(\.id) }

    func validateRemotely(_ context: StageContext) async throws {
        let repo = DataRepo(services: TerraServices(context.environment))
        for (index, id) in snapshots.enumerated() {
            do {
                _ = try await repo.snapshot(id)
            } catch {
                throw TerraServices.createError(error, field: "source.snapshots[\(index)]", what: "snapshot", name: id)
            }
        }
    }

    func initialItems() -> [JSONValue] {
        snapshots.map { ["snapshotId": .string($0)] }
    }
}
