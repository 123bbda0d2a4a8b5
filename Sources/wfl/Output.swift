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

    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        return Timestamp.format(date)
    }

    static func workload(_ view: WorkloadService.WorkloadView) {
        let w = view.record
        print("Workload \(w.uuid.uuidString.lowercased())  (project \(w.project))")
        var lines: [(String, String)] = [
            ("state", w.state), ("source", stage(w.sourceConfig)), ("executor", stage(w.executorConfig)),
            ("sink", stage(w.sinkConfig)), ("labels", w.labels.joined(separator: ", ")), ("created", time(w.created)),
        ]
        if let started = w.started { lines.append(("started", time(started))) }
        if let stopped = w.stopped { lines.append(("stopped", time(stopped))) }
        if let aborted = w.aborted { lines.append(("aborted", time(aborted))) }
        if let finished = w.finished { lines.append(("finished", time(finished))) }
        lines.append(("workflows", "\(counts(view.counts)) (\(view.counts.values.reduce(0, +)) total)"))
        if let error = w.lastError {
            lines.append(("last error", "\(error) (\(time(w.lastErrorAt)), \(w.errorCount) in a row)"))
        }
        for (key, value) in lines { print("  \(key.padding(toLength: 11, withPad: " ", startingAt: 0)) \(value)") }
    }

    static func workloads(_ views: [WorkloadService.WorkloadView]) {
        if views.isEmpty {
            print("No workloads.")
            return
        }
        table(
            ["UUID", "PROJECT", "STATE", "EXECUTOR", "CREATED", "WORKFLOWS"],
            views.map { view in
                [
                    view.record.uuid.uuidString.lowercased(), view.record.project, view.record.state,
                    view.record.executorConfig["name"]?.stringValue ?? "?", time(view.record.created), counts(view.counts),
                ]
            })
    }

    static func workflows(_ workflows: [WorkflowRecord]) {
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
                    w.uuid.uuidString.lowercased(), w.status.rawValue, String(w.attempt), w.externalID ?? "-",
                    time(w.updated), error.replacingOccurrences(of: "\n", with: " "),
                ]
            })
    }

    static func nextPage(_ cursor: String?) {
        if let cursor { FileHandle.standardError.write(Data("More results: add --cursor \(cursor)\n".utf8)) }
    }
}
