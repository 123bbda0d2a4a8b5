import Foundation
import LauncherCore
import LauncherSystem

/// A per-item shell command, as the `Local` and `SLURM` executors run it: a template whose
/// `{{field}}` placeholders are replaced by the item's values (shell-quoted), every input also
/// an environment variable, and the whole item in `inputs.json`.
struct CommandScript {
    let template: String
    let environment: [String: String]

    static var placeholder: Regex<(Substring, Substring)> { /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/ }

    /// Rejects malformed placeholders and bad variable names, naming the field.
    static func validate(template: String, field: String, environment: [String: String], environmentField: String) throws {
        for match in template.matches(of: /\{\{([^}]*)\}\}/) where template[match.range].wholeMatch(of: placeholder) == nil {
            throw LauncherError.invalid(field, "\"\(template[match.range])\" is not a valid {{field}} placeholder")
        }
        for name in environment.keys where !isEnvironmentName(name) {
            throw LauncherError.invalid("\(environmentField).\(name)", "is not a valid environment variable name")
        }
    }

    var fields: [String] { template.matches(of: Self.placeholder).map { String($0.output.1) } }

    /// The problem with one item's inputs, for create-time checks; nil when fine.
    func check(_ inputs: JSONObject, field: String) -> String? {
        for name in fields where inputs[name] == nil {
            return "has no field \"\(name)\", which \(field) uses as {{\(name)}}"
        }
        return nil
    }

    func render(_ inputs: JSONObject) -> String {
        template.replacing(Self.placeholder) { match in
            ProcessTools.shellQuote(Self.text(inputs[String(match.output.1)] ?? .null))
        }
    }

    /// `command.sh`: the standard variables, the configured ones, the inputs, then the command.
    func script(workflow: UUID, workload: UUID, attempt: Int, folder: URL, inputs: JSONObject) -> String {
        var lines = ["#!/bin/sh", "# Written by Workflow Launcher for workflow \(workflow.uuidString.lowercased())."]
        let standard: [(String, String)] = [
            ("WFL_WORKFLOW_UUID", workflow.uuidString.lowercased()),
            ("WFL_WORKLOAD_UUID", workload.uuidString.lowercased()),
            ("WFL_ATTEMPT", String(attempt)),
            ("WFL_WORK_DIR", folder.path),
            ("WFL_INPUTS", folder.appendingPathComponent("inputs.json").path),
            ("WFL_OUTPUTS", folder.appendingPathComponent("outputs.json").path),
        ]
        for (name, value) in standard { lines.append("export \(name)=\(ProcessTools.shellQuote(value))") }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            lines.append("export \(name)=\(ProcessTools.shellQuote(value))")
        }
        for (name, value) in inputs.sorted(by: { $0.key < $1.key }) where Self.isEnvironmentName(name) && !name.hasPrefix("WFL_") {
            lines.append("export \(name)=\(ProcessTools.shellQuote(Self.text(value)))")
        }
        lines.append(render(inputs))
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `inputs.json` and `command.sh` into the workflow's folder (atomically).
    func write(workflow: LaunchRequest, workload: UUID, folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try ProcessTools.writeAtomically(JSONValue.object(workflow.inputs).serialized(pretty: true) + "\n",
                                         to: folder.appendingPathComponent("inputs.json"))
        try ProcessTools.writeAtomically(script(workflow: workflow.uuid, workload: workload, attempt: workflow.attempt,
                                                folder: folder, inputs: workflow.inputs),
                                         to: folder.appendingPathComponent("command.sh"))
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        name.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) != nil
    }

    /// An input as text: strings as they are, everything else as JSON.
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): s
        case .null: ""
        default: value.description
        }
    }
}

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

    /// At create: the root must exist or be creatable (a 400 on `executor.workDir` otherwise).
    func create() throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw LauncherError.invalid("executor.workDir", "cannot create folder \(path): \(error.localizedDescription)")
        }
    }
}

