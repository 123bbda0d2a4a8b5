import ArgumentParser
import Foundation
import LauncherCore
import LauncherStages

struct Workloads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List workloads, or show one.")

    @Argument(help: "Show this workload.") var uuid: String?
    @Option(help: "Only workloads of this project.") var project: String?
    @Option(help: "Only workloads in this state: Created, Running, Stopped, Aborting, Aborted or Finished.") var state: String?
    @Option(help: "Only workloads with this label (team:imaging).") var label: String?
    @Option(help: "Only workloads this creator made.") var creator: String?
    @Option(help: "Order: oldest (the default), newest, or project.") var sort: String?
    @Option(help: "Workloads per page (1-1000, default 100).") var limit: Int?
    @Option(help: "Continue from a previous page.") var cursor: String?
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let id = try uuid.map(parseUUID)
        let (json, project, limit, cursor) = (options.json, project, limit, cursor)
        let (state, label, creator, sort) = (state, label, creator, sort)
        try await Clients.with(options) { client in
            if let id {
                let view = try await client.workload(id)
                if json { Output.printJSON(view.json) } else { Output.workload(view) }
                return
            }
            let page = try await client.workloads(
                project: project, state: state, label: label, creator: creator, sort: sort, cursor: cursor, limit: limit)
            if json { Output.printJSON(.array(page.items.map(\.json))) } else { Output.workloads(page.items) }
            Output.nextPage(page.nextCursor)
        }
    }
}

struct Workflows: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a workload's workflows (newest attempts), with filters.")

    @Argument(help: "The workload's UUID.") var uuid: String
    @Option(help: "Only this status (Pending, Submitted, Queued, Running, Aborting, Succeeded, Failed, Aborted).") var status: String?
    @Option(help: "Only this submission.") var submission: String?
    @Flag(name: .customLong("include-retried"), help: "Also list attempts that were retried.") var includeRetried = false
    @Option(help: "Workflows per page (1-1000, default 100).") var limit: Int?
    @Option(help: "Continue from a previous page.") var cursor: String?
    @Flag(name: .customLong("all"), help: "Fetch every page.") var allPages = false
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let id = try parseUUID(uuid)
        let (json, status, submission, includeRetried, limit, allPages) = (
            options.json, status, submission, includeRetried, limit, allPages
        )
        let firstCursor = cursor
        try await Clients.with(options) { client in
            var cursor = firstCursor
            var all: [WorkflowSummary] = []
            var seen: Set<String> = []
            repeat {
                if let cursor, !seen.insert(cursor).inserted { break }  // a server repeating itself ends the listing
                let page = try await client.workflows(
                    id, status: status, submission: submission, includeRetried: includeRetried,
                    cursor: cursor, limit: limit)
                all += page.items
                cursor = page.nextCursor
            } while allPages && cursor != nil
            if json { Output.printJSON(.array(all.map(\.json))) } else { Output.workflows(all) }
            Output.nextPage(cursor)
        }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a workload's event log (created, launched, errors, retries …).")

    @Argument(help: "The workload's UUID.") var uuid: String
    @Option(help: "Events per page (1-1000, default 100).") var limit: Int?
    @Option(help: "Continue from a previous page.") var cursor: String?
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let id = try parseUUID(uuid)
        let (json, limit, cursor) = (options.json, limit, cursor)
        try await Clients.with(options) { client in
            let page = try await client.events(id, cursor: cursor, limit: limit)
            if json {
                Output.printJSON(.array(page.items.map(\.json)))
            } else if page.items.isEmpty {
                print("No events.")
            } else {
                Output.table(["TIME", "KIND", "BY", "MESSAGE"], page.items.map { [$0.at, $0.kind, $0.by ?? "-", $0.message] })
            }
            Output.nextPage(page.nextCursor)
        }
    }
}

struct Stages: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the stage types (sources, executors, sinks) and their fields.")
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        // On the database, the catalog is this binary's own and needs no connection; a server
        // answers with its own (which is what requests to it are checked against).
        let catalog = try await RemoteClient.chosen(options)?.stages() ?? StageRegistry.builtinCatalog
        if options.json {
            Output.printJSON(.array(catalog))
            return
        }
        let fields = catalog.flatMap { $0["fields"]?.arrayValue ?? [] }
        let nameWidth = fields.map { ($0["name"]?.stringValue ?? "").count }.max() ?? 10
        let typeWidth = fields.map { ($0["type"]?.stringValue ?? "").count }.max() ?? 10
        for entry in catalog {
            let kind = entry["kind"]?.stringValue ?? ""
            print("\(kind) \"\(entry["name"]?.stringValue ?? "")\": \(entry["description"]?.stringValue ?? "")")
            for field in entry["fields"]?.arrayValue ?? [] {
                var notes: [String] = []
                if field["required"]?.boolValue == true { notes.append("required") }
                if let value = field["default"] { notes.append("default \(value)") }
                if let limits = Self.limits(field) { notes.append(limits) }
                print(
                    "    \((field["name"]?.stringValue ?? "").padding(toLength: nameWidth, withPad: " ", startingAt: 0))  "
                        + "\((field["type"]?.stringValue ?? "").padding(toLength: typeWidth, withPad: " ", startingAt: 0))  "
                        + "\(field["description"]?.stringValue ?? "")\(notes.isEmpty ? "" : " [\(notes.joined(separator: "; "))]")")
            }
        }
    }

    /// A field's declared range or length, as a reader would write it.
    static func limits(_ field: JSONValue) -> String? {
        if let values = field["enum"]?.arrayValue { return "one of " + values.compactMap(\.stringValue).joined(separator: ", ") }
        let maximum = field["maximum"].map { "\($0)" }
        if let low = field["exclusiveMinimum"] { return "> \(low)" + (maximum.map { ", ≤ \($0)" } ?? "") }
        if let low = field["minimum"] { return "\(low)–\(maximum ?? "")" }
        if let length = field["maxLength"] { return "at most \(length) bytes" }
        if let count = field["maxItems"] { return "at most \(count) entries" }
        return nil
    }
}
