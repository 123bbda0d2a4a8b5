import Foundation
import Metrics

/// Calls to backends, by service and outcome, with their latency: `wfl_backend_calls_total`,
/// `wfl_backend_call_duration_seconds` (sbatch, squeue, podman, the WES server, Rawls …).
package enum BackendMetrics {
    package enum Outcome: String { case ok, refused, unavailable }

    package static func record(_ service: String, _ outcome: Outcome, since start: ContinuousClock.Instant) {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        Counter(label: "wfl_backend_calls_total", dimensions: [("service", service), ("outcome", outcome.rawValue)]).increment()
        Timer(label: "wfl_backend_call_duration_seconds", dimensions: [("service", service)])
            .recordSeconds(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// Times `call` and records its outcome (errors are unavailable unless `refused` says otherwise).
    package static func measure<T>(
        _ service: String, refused: (any Error) -> Bool = { _ in false },
        _ call: () async throws -> T
    ) async throws -> T {
        let start = ContinuousClock.now
        do {
            let value = try await call()
            record(service, .ok, since: start)
            return value
        } catch {
            record(service, refused(error) ? .refused : .unavailable, since: start)
            throw error
        }
    }
}
