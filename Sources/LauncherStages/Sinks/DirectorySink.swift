import Foundation
import LauncherCore
import LauncherSystem

/// `{"name": "Directory", "path": "/some/folder"}`: one JSON file per succeeded workflow,
/// `<path>/<workflow uuid>.json`, with its uuid, status, inputs, outputs, backend details and
/// timestamps. Written to a temporary name and renamed, so a reader never sees half a file and
/// a repeated delivery overwrites the same file.
struct DirectorySink: Sink {
    let path: String

    static let type = StageType<any Sink>(
        name: "Directory",
        summary: "Writes one JSON file per succeeded workflow (uuid, status, inputs, outputs, timestamps) to a folder.",
        fields: [ConfigField("path", "string", required: true, "The folder; created if missing. Relative paths are resolved at create time.")]
    ) { reader in
        let raw = try reader.requiredString("path")
        let path = URL(fileURLWithPath: raw, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        if reader.origin == .request {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw LauncherError.invalid(reader.path("path"), "\(path) exists and is not a folder")
            }
        }
        return DirectorySink(path: path)
    }

    var config: JSONObject { ["name": "Directory", "path": .string(path)] }

    func validateRemotely(_ context: StageContext) async throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw LauncherError.invalid("sink.path", "cannot create folder \(path): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw LauncherError.invalid("sink.path", "folder \(path) is not writable")
        }
    }

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        let folder = URL(fileURLWithPath: path, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw LauncherError(.unavailable, "cannot create folder \(path): \(error.localizedDescription)")
        }
        var outcomes: [UUID: DeliveryOutcome] = [:]
        for workflow in workflows {
            let id = workflow.uuid.uuidString.lowercased()
            let document: JSONValue = .object([
                "uuid": .string(id),
                "workload": .string(context.workloadUUID.uuidString.lowercased()),
                "status": .string(workflow.status.rawValue),
                "attempt": .int(Int64(workflow.attempt)),
                "externalId": JSONValue(workflow.externalID),
                "submission": JSONValue(workflow.submission),
                "inputs": .object(workflow.inputs),
                "outputs": .object(workflow.outputs),
                "details": .object(workflow.details),
                "created": Timestamp.json(workflow.created),
                "submitted": Timestamp.json(workflow.submitted),
                "finished": Timestamp.json(workflow.finished),
            ].compacted)
            let target = folder.appendingPathComponent("\(id).json")
            do {
                try ProcessTools.writeAtomically(document.serialized(pretty: true) + "\n", to: target)
                outcomes[workflow.uuid] = .delivered
            } catch {
                outcomes[workflow.uuid] = .retry("cannot write \(target.path): \(error)")
            }
        }
        return outcomes
    }
}
