import Foundation

/// Exponential backoff: how many attempts, and how long to wait after each failure. Every
/// place the launcher waits before trying again uses one of these values — a workload whose
/// update failed, a launch the backend deferred, a delivery the sink could not make, a backend
/// call that timed out — and the SQL that schedules launches and deliveries takes its numbers
/// from the same value, so there is one formula.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included; after the last the work is given up (set aside).
    public var attempts: Int
    /// Seconds after the first failure.
    public var initialDelay: Double
    /// Each further failure waits this much longer.
    public var multiplier: Double
    /// Seconds; no wait is longer.
    public var maxDelay: Double

    public init(attempts: Int, initialDelay: Double, multiplier: Double = 2, maxDelay: Double) {
        self.attempts = max(1, attempts)
        self.initialDelay = max(0, initialDelay)
        self.multiplier = max(1, multiplier)
        self.maxDelay = max(0, maxDelay)
    }

    /// Seconds to wait after the `failures`-th failure in a row (1: the first).
    public func delay(afterFailure failures: Int) -> Double {
        let exponent = Double(min(max(failures, 1), 64) - 1)
        return min(maxDelay, initialDelay * pow(multiplier, exponent))
    }

    /// Whether the `failures`-th failure was the last attempt.
    public func givesUp(after failures: Int) -> Bool { failures >= attempts }

    /// A workload whose update failed: 2, 4, 8 … seconds, at most five minutes; never given up.
    public static let workloadErrors = RetryPolicy(attempts: .max, initialDelay: 2, maxDelay: 300)
    /// A launch the backend deferred (5xx, timeout): 2, 4, 8, 16 s, then failed as infrastructure.
    public static let launches = RetryPolicy(attempts: 5, initialDelay: 2, maxDelay: 300)
    /// A delivery the sink could not make: 5, 10, 20, 40 s, then set aside.
    public static let deliveries = RetryPolicy(attempts: 5, initialDelay: 5, maxDelay: 300)
    /// One call to a backend within a tick: three tries, half a second then a second apart.
    public static let backendCalls = RetryPolicy(attempts: 3, initialDelay: 0.5, maxDelay: 2)
    /// No second try.
    public static let once = RetryPolicy(attempts: 1, initialDelay: 0, maxDelay: 0)
}
