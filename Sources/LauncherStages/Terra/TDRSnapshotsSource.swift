import Foundation
import LauncherCore

/// `{"name": "TDR Snapshots", "snapshots": ["<snapshot id>", …]}`: a fixed list of
/// data-repository snapshots, each checked at create; one item per snapshot.
struct TDRSnapshotsSource: Source {
    let snapshots: [String]

    static let type = StageType<any Source>(
        name: "TDR Snapshots",
        summary: "A fixed list of Terra Data Repository snapshots; each is checked at create and becomes one item.",
        fields: [ConfigField("snapshots", "array of strings", required: true, "Snapshot ids (UUIDs).")]
    ) { reader in
        guard let values = try reader.array("snapshots") else { throw LauncherError.invalid(reader.path("snapshots"), "required") }
        if values.isEmpty && reader.origin == .request { throw LauncherError.invalid(reader.path("snapshots"), "must not be empty") }
        let ids = try values.enumerated().map { index, value in
            guard let id = value.stringValue, UUID(uuidString: id) != nil else {
                throw LauncherError.invalid("\(reader.path("snapshots"))[\(index)]", "expected a snapshot id (a UUID), got \(value)")
            }
            return id.lowercased()
        }
        if let duplicate = ids.enumerated().first(where: { ids.firstIndex(of: $0.element) != $0.offset }) {
            throw LauncherError.invalid("\(reader.path("snapshots"))[\(duplicate.offset)]", "snapshot \(duplicate.element) is listed twice")
        }
        return TDRSnapshotsSource(snapshots: ids)
    }

    var config: JSONObject { ["name": "TDR Snapshots", "snapshots": .array(snapshots.map(JSONValue.string))] }

    func validateRemotely(_ context: StageContext) async throws {
        let repo = DataRepo(services: TerraServices(context.environment))
        for (index, id) in snapshots.enumerated() {
            do {
                _ = try await repo.snapshot(id)
            } catch {
                throw TerraHTTP.createError(error, field: "source.snapshots[\(index)]", what: "snapshot", name: id)
            }
        }
    }

    func initialItems() -> [JSONValue] {
        snapshots.map { ["snapshotId": .string($0)] }
    }
}
