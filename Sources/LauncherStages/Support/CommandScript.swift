import Foundation
import LauncherCore
import LauncherStageSupport
import LauncherSystem

/// A per-item shell command, as the `Local` and `SLURM` executors run it: a template whose
/// `{{field}}` placeholders are replaced by the item's values (shell-quoted), every input also
/// an environment variable, and the whole item in `inputs.json`.
struct CommandScript {
    let template: String
    let environment: [String: String]

    static var placeholder: Regex<(Substring, Substring)> { /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/ }

    /// Rejects malformed placeholders, naming the field.
    static func validate(template: String, at field: FieldPath) throws {
        for match in template.matches(of: /\{\{([^}]*)\}\}/) where template[match.range].wholeMatch(of: placeholder) == nil {
            throw field.invalid("\"\(Constraint.excerpt(String(template[match.range])))\" is not a valid {{field}} placeholder")
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
        try ProcessTools.writeAtomically(
            JSONValue.object(workflow.inputs).serialized(pretty: true) + "\n",
            to: folder.appendingPathComponent("inputs.json"))
        try ProcessTools.writeAtomically(
            script(
                workflow: workflow.uuid, workload: workload, attempt: workflow.attempt,
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
