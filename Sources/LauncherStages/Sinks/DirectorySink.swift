import Foundation
import LauncherCore
import LauncherStageSupport
import LauncherSystem
import Synchronization

/// `{"name": "Directory", "path": "/some/folder"}`: one JSON file per succeeded workflow,
/// `<path>/<workflow uuid>.json`, with its uuid, status, inputs, outputs, backend details and
/// timestamps. Written to a temporary name and renamed, so a reader never sees half a file and
/// a repeated delivery overwrites the same file.
struct DirectorySink: Sink, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Directory"
        static let summary = "Writes one JSON file per succeeded workflow (uuid, status, inputs, outputs, timestamps) to a folder."

        var path = ""

        static let fields: [Field<Config>] = [
            Field("path", \.path, .path, required: true, "The folder (an absolute path); created if missing.")
        ]

        func finish(at field: FieldPath, context: ConfigContext) throws {
            guard context.origin == .request else { return }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw field.key("path").invalid("\(path) exists and is not a folder")
            }
        }
    }

    static let type = StageType<any Sink>(Config.self) { DirectorySink(config: $0) }

    let config: Config

    /// Checked, not created: a create refused further on leaves nothing on disk.
    func validateRemotely(_ context: StageContext) async throws {
        if let problem = ProcessTools.folderProblem(config.path) { throw LauncherError.invalid("sink.path", problem) }
    }

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        let folder = URL(fileURLWithPath: config.path, isDirectory: true)
        do {
            try ProcessTools.makeFolder(config.path)
        } catch {
            throw LauncherError(.unavailable, "\(error)")
        }
        Self.cleanOnce(config.path)
        var outcomes: [UUID: DeliveryOutcome] = [:]
        for workflow in workflows {
            let id = workflow.uuid.uuidString.lowercased()
            let document: JSONValue = .object(
                [
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
                outcomes[workflow.uuid] = .retry("\(error)")
            }
        }
        return outcomes
    }

    /// Temporary files a killed delivery left behind go at the first delivery of this process
    /// to the folder.
    private static let cleaned = Mutex<Set<String>>([])

    static func cleanOnce(_ folder: String) {
        guard cleaned.withLock({ $0.insert(folder).inserted }) else { return }
        ProcessTools.removeStaleTemporaries(in: folder)
    }
}
