import Foundation
import LauncherCore

/// Human-readable renderings; `--json` prints the API's JSON instead.
enum Output {
    static func printJSON(_ value: JSONValue) {
        print(value.serialized(pretty: true))
    }

    static func table(_ header: [String], _ rows: [[String]]) {
        guard !rows.isEmpty else { return }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            .joined(separator: "  ")
        }
        print(line(header))
        for row in rows { print(line(row)) }
    }

    static func counts(_ counts: [WorkflowStatus: Int]) -> String {
        let parts = WorkflowStatus.allCases.compactMap { status -> String? in
            guard let n = counts[status], n > 0 else { return nil }
            return "\(n) \(status.rawValue)"
        }
        return parts.isEmpty ? "none yet" : parts.joined(separator: ", ")
    }

    static func stage(_ config: JSONObject) -> String {
        let name = config["name"]?.stringValue ?? "?"
        let rest = config.filter { $0.key != "name" }
        return rest.isEmpty ? name : "\(name) \(JSONValue.object(rest))"
    }

    static func workload(_ w: WorkloadSummary) {
        print("Workload \(w.uuid)  (project \(w.project))")
        var lines: [(String, String)] = [
            ("state", w.state), ("source", stage(w.source)), ("executor", stage(w.executor)),
            ("sink", stage(w.sink)), ("labels", w.labels.joined(separator: ", ")), ("created", w.created),
        ]
        if let started = w.started { lines.append(("started", started)) }
        if let stopped = w.stopped { lines.append(("stopped", stopped)) }
        if let aborted = w.aborted { lines.append(("aborted", aborted)) }
        if let finished = w.finished { lines.append(("finished", finished)) }
        lines.append(("workflows", "\(counts(w.counts)) (\(w.total) total)"))
        if let error = w.lastError {
            lines.append(("last error", "\(error.message) (\(error.at ?? "-"), \(error.consecutive ?? 0) in a row)"))
        }
        for (key, value) in lines { print("  \(key.padding(toLength: 11, withPad: " ", startingAt: 0)) \(value)") }
    }

    static func workloads(_ views: [WorkloadSummary]) {
        if views.isEmpty {
            print("No workloads.")
            return
        }
        table(
            ["UUID", "PROJECT", "STATE", "EXECUTOR", "CREATED", "WORKFLOWS"],
            views.map { view in
                [view.uuid, view.project, view.state, view.executor["name"]?.stringValue ?? "?", view.created, counts(view.counts)]
            })
    }

    static func workflows(_ workflows: [WorkflowSummary]) {
        if workflows.isEmpty {
            print("No workflows.")
            return
        }
        table(
            ["UUID", "STATUS", "ATTEMPT", "EXTERNAL ID", "UPDATED", "ERROR"],
            workflows.map { w in
                var error = w.error.map { ($0.kind == .infrastructure ? "[infrastructure] " : "") + $0.message } ?? w.deliveryError ?? ""
                if error.count > 80 { error = String(error.prefix(77)) + "..." }
                return [
                    w.uuid, w.status, String(w.attempt), w.externalId ?? "-", w.updated ?? "-",
                    error.replacingOccurrences(of: "\n", with: " "),
                ]
            })
    }

    static func nextPage(_ cursor: String?) {
        if let cursor { FileHandle.standardError.write(Data("More results: add --cursor \(cursor)\n".utf8)) }
    }
}
