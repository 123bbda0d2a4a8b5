import ArgumentParser
import Dispatch
import Foundation
import LauncherCore

#if canImport(Glibc)
    import Glibc
#endif

struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and start a workload in one step; with --wait, follow it until it finishes.",
        discussion: """
            On the database, --wait updates this workload every --interval seconds and shows its progress. It is safe \
            alongside `wfl serve` or other updaters: whichever holds the workload's lock updates it. With --server, the \
            server's update loop runs it and --wait follows it. \
            Exit status with --wait: 0 when every workflow succeeded, 3 when some failed or were aborted. \
            Ctrl-C stops waiting; the workload carries on under `wfl serve` or `wfl update`.
            """)

    @Argument(help: "The workload request: a JSON file, or - for standard input.") var file: String
    @Flag(help: "Follow the workload until it finishes, showing progress.") var wait = false
    @Option(help: "Seconds between updates with --wait.") var interval: Double = 1
    @OptionGroup var options: GlobalOptions

    func validate() throws {
        guard interval > 0 && interval <= 3600 else { throw ValidationError("--interval must be between 0 and 3600 seconds") }
    }

    func run() async throws {
        let request = try readJSON(file)
        let json = options.json
        let wait = self.wait
        let interval = self.interval
        let failed = try await Clients.with(options) { client in
            let view = try await client.create(request, start: true)
            guard wait else {
                if json { Output.printJSON(view.json) } else { Output.workload(view) }
                return false
            }
            if !json {
                print("Started workload \(view.uuid); waiting for it to finish (Ctrl-C stops waiting).")
            }
            let final = try await Self.follow(view.uuid, client: client, interval: interval, quiet: json)
            if json { Output.printJSON(final.json) } else { Output.workload(final) }
            return final.hasFailures || !final.isFinished
        }
        if failed { throw ExitCode(3) }
    }

    /// Moves the workload along (or lets the server do it) until it finishes or Ctrl-C,
    /// printing counts as they change.
    static func follow(_ id: String, client: any LauncherClient, interval: Double, quiet: Bool) async throws -> WorkloadSummary {
        let uuid = try parseUUID(id)
        let interrupt = Interrupt()
        let started = Date()
        let tty = isatty(STDOUT_FILENO) == 1
        var lastLine = ""
        while true {
            await client.advance(uuid)
            let view = try await client.workload(uuid)
            let done = WorkflowStatus.final.reduce(0) { $0 + (view.counts[$1] ?? 0) }
            var line = "[\(Int(Date().timeIntervalSince(started)))s] \(Output.counts(view.counts))  (\(done)/\(view.total) done)"
            if let error = view.lastError, (error.consecutive ?? 0) > 0 { line += "  last error: \(error.message)" }
            if !quiet && line != lastLine {
                if tty {
                    print("\r\u{1B}[K" + line, terminator: "")
                    fflush(nil)
                } else {
                    print(line)
                }
                lastLine = line
            }
            if view.isFinished || interrupt.fired {
                if !quiet && tty { print("") }
                if interrupt.fired && !quiet { print("Stopped waiting. \(client.carriesOn)") }
                return view
            }
            let deadline = Date().addingTimeInterval(interval)
            while Date() < deadline && !interrupt.fired { try await Task.sleep(for: .milliseconds(50)) }
        }
    }
}

/// Catches Ctrl-C so a waiting command can stop cleanly (and release the embedded database).
final class Interrupt: @unchecked Sendable {
    private let source: any DispatchSourceSignal
    private let lock = NSLock()
    private var _fired = false

    init() {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.lock()
            self._fired = true
            self.lock.unlock()
        }
        source.resume()
    }

    var fired: Bool {
        lock.lock()
        defer { lock.unlock() }
        return _fired
    }

    deinit {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
