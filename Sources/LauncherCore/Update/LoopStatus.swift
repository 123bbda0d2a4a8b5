import Foundation

/// How the update loop of this process is doing, for `/health`: when it last completed a
/// pass. A loop that has not completed one for a few intervals is stuck, and says so.
public final class LoopStatus: @unchecked Sendable {
    private let lock = NSLock()
    private var lastCompleted: Date?
    private var lastListed: Date?
    private let started = Date()
    public let interval: Double
    /// How many intervals without a completed pass make the loop stale.
    public let staleAfter: Double

    public init(interval: Double, staleAfter: Double = 3) {
        self.interval = interval
        self.staleAfter = staleAfter
    }

    /// A pass ended; `listed`: it reached the database.
    public func passCompleted(listed: Bool, at date: Date = Date()) {
        lock.lock()
        lastCompleted = date
        if listed { lastListed = date }
        lock.unlock()
    }

    /// The last pass that reached the database.
    public var lastHealthyPass: Date? {
        lock.lock()
        defer { lock.unlock() }
        return lastListed
    }

    public var lastPass: Date? {
        lock.lock()
        defer { lock.unlock() }
        return lastCompleted
    }

    /// Nil when healthy; else why not. A pass may take a while (a slow backend, the time
    /// limits of its calls), so the allowance is generous: `staleAfter` intervals plus a minute.
    public func problem(now: Date = Date()) -> String? {
        let since = lastPass ?? started
        let allowed = staleAfter * interval + 60
        let quiet = now.timeIntervalSince(since)
        guard quiet > allowed else { return nil }
        return "the update loop has not completed a pass for \(Int(quiet)) s (allowed: \(Int(allowed)) s)"
    }
}
