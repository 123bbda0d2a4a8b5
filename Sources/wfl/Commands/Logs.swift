import ArgumentParser
import Foundation
import LauncherCore

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a workflow's stdout (or stderr), wherever its executor keeps it; --follow prints what it writes next.",
        discussion: """
            Local, SLURM and Container workflows write stdout.log and stderr.log in their work folders; a WES workflow's \
            are in its run log; Terra keeps its own (the message links to them). At most the last MiB is read.
            """)

    @Argument(help: "The workflow's UUID (as `wfl workflows` lists them).") var workflow: String
    @Flag(help: "Print stderr instead of stdout.") var stderr = false
    @Option(help: "Print the last N lines (1-\(LogReader.maxTailLines), default 100).") var tail: Int?
    @Flag(help: "Keep printing what the workflow writes until it finishes (or Ctrl-C).") var follow = false
    @Option(help: "Seconds between reads with --follow.") var interval: Double = 1
    @OptionGroup var options: GlobalOptions

    func validate() throws {
        if let tail, !(1...LogReader.maxTailLines).contains(tail) {
            throw ValidationError("--tail must be between 1 and \(LogReader.maxTailLines)")
        }
        guard interval > 0 && interval <= 3600 else { throw ValidationError("--interval must be between 0 and 3600 seconds") }
    }

    func run() async throws {
        let id = try WorkloadService.parseUUID(workflow, field: "WORKFLOW")
        let (stream, tail, follow, interval, json) = (stderr ? LogStream.stderr : .stdout, tail, follow, interval, options.json)
        try await Clients.with(options) { client in
            let found = try await client.workflow(id)
            guard let workload = found.workload.flatMap(UUID.init(uuidString:)) else {
                throw LauncherError(.unavailable, "the answer names no workload for the workflow; are the server and wfl the same version?")
            }
            var chunk = try await client.logs(workload, workflow: id, stream: stream, tail: tail, from: nil)
            if json && !follow {
                Output.printJSON([
                    "workload": .string(workload.uuidString.lowercased()), "workflow": .string(id.uuidString.lowercased()),
                    "stream": .string(stream.rawValue), "text": .string(chunk.text), "start": .int(chunk.start),
                    "end": .int(chunk.end), "size": .int(chunk.size), "truncated": .bool(chunk.truncated),
                ])
                return
            }
            if chunk.truncated && chunk.start > 0 {
                FileHandle.standardError.write(Data("(the first \(chunk.start) bytes are left out)\n".utf8))
            }
            Self.write(chunk.text)
            guard follow else { return }
            let interrupt = Interrupt()
            var offset = chunk.end
            while !interrupt.fired {
                let deadline = Date().addingTimeInterval(interval)
                while Date() < deadline && !interrupt.fired { try await Task.sleep(for: .milliseconds(50)) }
                // Read what came, then ask whether it is over: a final read after that catches the last lines.
                let finished = try await client.workflow(id).isFinal
                repeat {
                    chunk = try await client.logs(workload, workflow: id, stream: stream, tail: nil, from: offset)
                    Self.write(chunk.text)
                    guard chunk.end > offset else { break }  // no progress: ask again after the pause
                    offset = chunk.end
                } while chunk.truncated
                if finished { return }
            }
        }
    }

    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
