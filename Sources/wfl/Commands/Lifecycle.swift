import ArgumentParser
import Foundation
import LauncherCore

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a workload from a JSON request (not started).")

    @Argument(help: "The workload request: a JSON file, or - for standard input.") var file: String
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let request = try readJSON(file)
        let json = options.json
        try await Clients.with(options) { client in
            let view = try await client.create(request, start: false)
            if json { Output.printJSON(view.json) } else { Output.workload(view) }
        }
    }
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a workload (no-op when already started).")
    @Argument(help: "The workload's UUID.") var uuid: String
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await showing(uuid, options) { try await $0.start($1) }
    }
}

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop a workload: its source takes no new items; queued and running work drains.")
    @Argument(help: "The workload's UUID.") var uuid: String
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await showing(uuid, options) { try await $0.stop($1) }
    }
}

struct Abort: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Abort a workload: stop it, abort its active workflows at the backend, launch nothing more.")
    @Argument(help: "The workload's UUID.") var uuid: String
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await showing(uuid, options) { try await $0.abort($1) }
    }
}

/// Runs one lifecycle operation on a workload and prints the workload as it is afterwards.
private func showing(
    _ uuid: String, _ options: GlobalOptions,
    _ operation: @escaping @Sendable (any LauncherClient, UUID) async throws -> WorkloadSummary
) async throws {
    let id = try parseUUID(uuid)
    let json = options.json
    try await Clients.with(options) { client in
        let view = try await operation(client, id)
        if json { Output.printJSON(view.json) } else { Output.workload(view) }
    }
}

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Relaunch final workflows matching filters, as new attempts linked to the originals.",
        discussion: "Give at least one of --status, --submission, --uuid. Prints the new workflows.")

    @Argument(help: "The workload's UUID.") var uuid: String
    @Option(help: "Retry workflows with this final status: Succeeded, Failed or Aborted.") var status: String?
    @Option(help: "Retry workflows of this submission.") var submission: String?
    @Option(name: .customLong("uuid"), help: "Retry this workflow (repeatable).") var uuids: [String] = []
    @Option(name: .customLong("override"), help: "An executor override for the new attempts, NAME=VALUE (repeatable), e.g. timeout=600.")
    var overrides: [String] = []
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let id = try parseUUID(uuid)
        var request: JSONObject = [:]
        if let status { request["status"] = .string(status) }
        if let submission { request["submission"] = .string(submission) }
        if !uuids.isEmpty { request["uuids"] = .array(uuids.map(JSONValue.string)) }
        if !overrides.isEmpty {
            var object: JSONObject = [:]
            for pair in overrides {
                guard let equals = pair.firstIndex(of: "=") else {
                    throw LauncherError.invalid("--override", "expected NAME=VALUE, got \"\(pair)\"")
                }
                let value = String(pair[pair.index(after: equals)...])
                object[String(pair[..<equals])] = (try? JSONValue.parse(value)) ?? .string(value)
            }
            request["overrides"] = .object(object)
        }
        let json = options.json
        try await Clients.with(options) { [request] client in
            let created = try await client.retry(id, request: .object(request))
            if json {
                Output.printJSON(.array(created.map(\.json)))
            } else {
                print("Retrying \(created.count) workflow(s):")
                Output.workflows(created)
            }
        }
    }
}

struct Redeliver: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put set-aside deliveries back in the sink's queue (all, or by --uuid), reopening the workload.",
        discussion:
            "A delivery is set aside when the sink kept failing (an unwritable folder, a service that refused). Fix the cause, then redeliver."
    )

    @Argument(help: "The workload's UUID.") var uuid: String
    @Option(name: .customLong("uuid"), help: "Redeliver this workflow only (repeatable).") var uuids: [String] = []
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let id = try parseUUID(uuid)
        let request: JSONValue = uuids.isEmpty ? [:] : ["uuids": .array(uuids.map(JSONValue.string))]
        let json = options.json
        try await Clients.with(options) { client in
            let view = try await client.redeliver(id, request: request)
            if json { Output.printJSON(view.json) } else { Output.workload(view) }
        }
    }
}
