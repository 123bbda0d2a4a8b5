import Foundation
import LauncherCore
import LauncherStageSupport

/// Points this workload's copy of the method configuration at a snapshot reference, creating
/// the copy from the original the first time. Calls for one workload run one at a time (the
/// workload's update lock), and no other workload uses the copy, so nothing races.
struct MethodConfigurationPointer: Sendable {
    let firecloud: Firecloud
    let original: NamespacedName
    let copy: NamespacedName

    /// Returns the root entity type used: the snapshot's only table, or the configuration's
    /// current one when it is among the snapshot's tables.
    func point(reference: String, tables: [String], snapshot: String) async throws -> String {
        var current: TerraMethodConfiguration
        var exists = true
        do {
            current = try await firecloud.methodConfiguration(copy)
        } catch BackendError.refused(_, 404, _) {
            current = try await firecloud.methodConfiguration(original)
            exists = false
        }
        let root: String
        if tables.count == 1 {
            root = tables[0]
        } else if let configured = current.rootEntityType, tables.contains(configured) {
            root = configured
        } else {
            throw LauncherError.invalid(
                "executor.methodConfiguration",
                "snapshot \(snapshot) has tables \(tables.joined(separator: ", ")); "
                    + "set the method configuration's rootEntityType to one of them or use a snapshot with one table")
        }
        var body = current.document
        body["namespace"] = .string(copy.namespace)
        body["name"] = .string(copy.name)
        body["dataReferenceName"] = .string(reference)
        body["rootEntityType"] = .string(root)
        if exists {
            body["methodConfigVersion"] = .int(Int64(current.version) + 1)
            try await firecloud.updateMethodConfiguration(copy, body)
        } else {
            body["methodConfigVersion"] = 1
            do {
                try await firecloud.createMethodConfiguration(body)
            } catch BackendError.refused(_, 409, _) {
                try await firecloud.updateMethodConfiguration(copy, body)  // created by an attempt a crash cut short
            }
        }
        return root
    }
}
