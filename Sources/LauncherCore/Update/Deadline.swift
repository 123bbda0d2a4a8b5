import Foundation

/// A time limit on work that might never finish: a query to a database that went away, a
/// connection request to a pool whose server is down. Past the limit the caller gets
/// `LauncherError(.unavailable, "<what> did not answer within N s")` and goes on; the work is
/// cancelled and left to end on its own. (Structured concurrency would wait for it: an
/// `await` that ignores cancellation would then hold the update loop for good.)
public struct Deadline: Sendable {
    public let limit: Duration
    /// What is waited for, for the message: "the database".
    public let what: String

    public init(_ limit: Duration, _ what: String) {
        self.limit = limit
        self.what = what
    }

    /// Runs `operation` within the limit.
    public func run<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await run { _ in try await operation() }
    }

    /// Runs `operation` within the limit until it calls `disarm()` (the connection was leased;
    /// what follows has deadlines of its own), then without one.
    public func run<T: Sendable>(_ operation: @escaping @Sendable (_ disarm: @escaping @Sendable () -> Void) async throws -> T) async throws
        -> T
    {
        let race = Race<T>()
        let timeout = LauncherError(.unavailable, "\(what) did not answer within \(Self.describe(limit))")
        let limit = self.limit
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.start(continuation)
                let work = Task {
                    do {
                        race.finish(.success(try await operation { race.disarm() }))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
                let timer = Task {
                    try? await Task.sleep(for: limit)
                    if race.expire(timeout) { work.cancel() }
                }
                race.track(work: work, timer: timer)
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    static func describe(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds < 1 ? "\(Int(seconds * 1000)) ms" : "\(Constraint.numberText(seconds.rounded())) s"
    }
}

/// Who finishes first: the work, the timer, or the caller's cancellation. One resumes the
/// continuation; the others find it taken.
private final class Race<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var early: Result<T, any Error>?
    private var armed = true
    private var work: Task<Void, Never>?
    private var timer: Task<Void, Never>?

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        if let early {
            lock.unlock()
            continuation.resume(with: early)
            return
        }
        self.continuation = continuation
        lock.unlock()
    }

    func track(work: Task<Void, Never>, timer: Task<Void, Never>) {
        lock.lock()
        let done = continuation == nil && early != nil
        self.work = work
        self.timer = timer
        lock.unlock()
        if done { timer.cancel() }
    }

    func disarm() {
        lock.lock()
        armed = false
        let timer = self.timer
        lock.unlock()
        timer?.cancel()
    }

    /// The timer's turn: true when it won (the work should be cancelled).
    func expire(_ error: any Error) -> Bool {
        lock.lock()
        guard armed, let continuation else {
            lock.unlock()
            return false
        }
        self.continuation = nil
        early = .failure(error)
        lock.unlock()
        continuation.resume(throwing: error)
        return true
    }

    func finish(_ result: Result<T, any Error>) {
        lock.lock()
        guard early == nil else {
            lock.unlock()
            return
        }
        early = result
        let continuation = self.continuation
        self.continuation = nil
        let timer = self.timer
        lock.unlock()
        timer?.cancel()
        continuation?.resume(with: result)
    }
}
