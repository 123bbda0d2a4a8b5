import Foundation

/// The migrations in this folder, shipped as resources of the `LauncherSchema` target so a
/// built `wfl` carries the schema it expects.
public enum Schema {
    /// `NNNN_description.sql` files, in order.
    public static func migrationFiles() throws -> [URL] {
        guard let folder = Bundle.module.resourceURL else { return [] }
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" && $0.lastPathComponent.wholeMatch(of: /[0-9]{4}_[A-Za-z0-9_]+\.sql/) != nil }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}
