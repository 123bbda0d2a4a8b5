import Foundation

/// What the dashboard shows beyond the API's listings: progress, an estimate of the time
/// left, workflows finished per minute, the newest events. Each costs a fixed number of
/// queries whatever the workload's size (the counts, and the summary events of recent ticks).
extension WorkloadService {
    public struct Progress: Sendable {
        public var done: Int
        public var total: Int
        /// Workflows finished in each of the last `perMinute.count` minutes, oldest first.
        public var perMinute: [Int]
        /// Seconds left at the pace of the last ten minutes; nil when nothing finished lately.
        public var secondsLeft: Double?

        public var percent: Int { total == 0 ? 0 : min(100, done * 100 / total) }
    }

    public func progress(_ view: WorkloadView, minutes: Int = 60, now: Date = Date()) async throws -> Progress {
        try principal.require(.viewer, to: "read workloads")
        let minutes = min(max(1, minutes), 24 * 60)
        let total = view.counts.values.reduce(0, +)
        let done = WorkflowStatus.final.reduce(0) { $0 + (view.counts[$1] ?? 0) }
        let start = now.addingTimeInterval(-Double(minutes * 60))
        let events = try await store.recentEvents(workloadID: view.record.id, kind: "workflows", since: start, limit: 100_000)
        var perMinute = [Int](repeating: 0, count: minutes)
        for event in events {
            let finished = WorkflowStatus.final.reduce(0) { sum, status in
                // A stored row is not trusted: a count that is not a small whole number is left out.
                let n = event.data[status.rawValue]?.intValue ?? 0
                return sum + Int(clamping: min(max(0, n), 1_000_000_000))
            }
            let index = Int(event.at.timeIntervalSince(start) / 60)
            if (0..<minutes).contains(index) { perMinute[index] += finished }
        }
        let recent = perMinute.suffix(10).reduce(0, +)
        let left = total - done
        let secondsLeft: Double? = view.record.finished == nil && recent > 0 && left > 0 ? Double(left) / (Double(recent) / 600) : nil
        return Progress(done: done, total: total, perMinute: perMinute, secondsLeft: secondsLeft)
    }

    /// The newest events first, at most `limit`.
    public func recentEvents(_ uuid: UUID, limit: Int = 50) async throws -> [WorkloadEvent] {
        try principal.require(.viewer, to: "read events")
        let workload = try await find(uuid)
        return try await store.recentEvents(
            workloadID: workload.id, kind: nil, since: .distantPast, limit: min(max(1, limit), WorkloadService.maxPageSize))
    }
}
