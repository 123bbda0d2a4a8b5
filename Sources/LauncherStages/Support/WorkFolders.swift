import Foundation
import LauncherCore
import LauncherStageSupport
import LauncherSystem

/// The files a workflow's work folder holds once its command ran.
struct WorkFolder {
    let folder: URL
    init(_ folder: URL) { self.folder = folder }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    func exitCode() -> Int? {
        guard let text = try? String(contentsOfFile: path("exit"), encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    enum Outputs { case valid(JSONObject), invalid(String) }

    /// What the command wrote to `$WFL_OUTPUTS` (nothing written: no outputs).
    func outputs() -> Outputs {
        guard let data = FileManager.default.contents(atPath: path("outputs.json")) else { return .valid([:]) }
        guard let value = try? JSONValue.parse(data), let object = value.objectValue else {
            return .invalid("the command wrote \(path("outputs.json")), which is not a JSON object")
        }
        return .valid(object)
    }

    /// Exit code and log paths, as the sink receives them in `details`.
    func details(exitCode: Int?) -> JSONObject {
        var details: JSONObject = [
            "workDir": .string(folder.path), "stdout": .string(path("stdout.log")), "stderr": .string(path("stderr.log")),
        ]
        if let exitCode { details["exitCode"] = .int(Int64(exitCode)) }
        return details
    }

    /// The last line of stderr, for error messages.
    var lastErrorLine: String? {
        ProcessTools.tail(of: path("stderr.log"))?.split(separator: "\n").last.map(String.init)
    }
}

/// Where an executor keeps its work folders: `workDir`, or `$WFL_HOME/<defaultName>`, then one
/// folder per workload and one per workflow below it.
struct WorkRoot {
    let path: String
    let workload: URL

    init(workDir: String?, defaultName: String, _ context: StageContext) {
        path = workDir ?? context.environment.home.appendingPathComponent(defaultName).path
        workload = URL(fileURLWithPath: path, isDirectory: true)
            .appendingPathComponent(context.workloadUUID.uuidString.lowercased(), isDirectory: true)
    }

    func folder(_ workflow: UUID) -> URL {
        workload.appendingPathComponent(workflow.uuidString.lowercased(), isDirectory: true)
    }

    /// The command's stdout.log or stderr.log in the workflow's folder.
    func log(_ workflow: UUID, _ stream: LogStream) -> WorkflowLogLocation {
        .file(root: URL(fileURLWithPath: path, isDirectory: true), folder: folder(workflow), name: "\(stream.rawValue).log")
    }

    /// At create: the root must be writable, or creatable later (a 400 on `executor.workDir`
    /// otherwise). Nothing is created now: a create refused further on leaves nothing on disk.
    func check() throws {
        if let problem = ProcessTools.folderProblem(path) { throw LauncherError.invalid("executor.workDir", problem) }
    }
}
