import Foundation
import LauncherCore

/// SVG drawn by the server from numbers only (no text from a request or a row goes in), so
/// the pages need no charting script.
enum Charts {
    /// One bar split by status, as wide as `width`.
    static func countsBar(_ counts: [WorkflowStatus: Int], width: Int) -> String {
        let total = counts.values.reduce(0, +)
        guard total > 0 else {
            return
                "<svg class=\"counts\" width=\"\(width)\" height=\"12\" role=\"img\" aria-label=\"no workflows yet\"><rect width=\"\(width)\" height=\"12\" fill=\"#eef0f3\"/></svg>"
        }
        var x = 0.0
        var parts: [String] = []
        var label: [String] = []
        for status in WorkflowStatus.allCases {
            let n = counts[status] ?? 0
            guard n > 0 else { continue }
            let w = Double(width) * Double(n) / Double(total)
            parts.append(
                "<rect x=\"\(format(x))\" width=\"\(format(w))\" height=\"12\" fill=\"\(colour(status))\"><title>\(n) \(status.rawValue)</title></rect>"
            )
            label.append("\(n) \(status.rawValue)")
            x += w
        }
        return
            "<svg class=\"counts\" width=\"\(width)\" height=\"12\" role=\"img\" aria-label=\"\(label.joined(separator: ", "))\">\(parts.joined())</svg>"
    }

    /// Workflows finished per minute, oldest first, as columns with the peak marked.
    static func perMinute(_ counts: [Int], width: Int = 720, height: Int = 140) -> String {
        let peak = max(1, counts.max() ?? 0)
        let total = counts.reduce(0, +)
        let column = Double(width - 40) / Double(max(1, counts.count))
        var bars: [String] = []
        for (i, n) in counts.enumerated() where n > 0 {
            let h = Double(height - 30) * Double(n) / Double(peak)
            bars.append(
                "<rect x=\"\(format(36 + Double(i) * column))\" y=\"\(format(Double(height - 18) - h))\" width=\"\(format(max(1, column - 1)))\" height=\"\(format(h))\"><title>\(n) in minute \(i - counts.count + 1)</title></rect>"
            )
        }
        return """
            <svg class="chart" id="throughput" width="\(width)" height="\(height)" role="img" aria-label="\(total) workflows finished in the last \(counts.count) minutes; at most \(peak) in a minute">\
            <text x="2" y="14">\(peak)/min</text><text x="2" y="\(height - 20)">0</text>\
            <line x1="34" y1="\(height - 18)" x2="\(width - 4)" y2="\(height - 18)" stroke="#d9dde3"/>\(bars.joined())\
            <text x="36" y="\(height - 4)">−\(counts.count) min</text><text x="\(width - 40)" y="\(height - 4)">now</text></svg>
            """
    }

    static func colour(_ status: WorkflowStatus) -> String {
        switch status {
        case .succeeded: "#2e7d32"
        case .failed: "#c62828"
        case .aborted, .aborting: "#8e24aa"
        case .running, .submitted, .queued: "#1565c0"
        case .pending: "#b0891a"
        }
    }

    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}
