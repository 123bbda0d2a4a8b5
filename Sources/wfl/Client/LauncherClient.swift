import Foundation
import LauncherCore
import LauncherStages
import Logging

/// What the operator commands (create, exec, start, stop, abort, workloads, workflows, retry,
/// redeliver, events, stages, token) call: the service layer on the database, or a `wfl serve`
/// over its HTTP API (`--server`, `WFL_SERVER`). Each command is written once against this,
/// so output, exit codes and progress are the same either way.
protocol LauncherClient: Sendable {
    func create(_ request: JSONValue, start: Bool) async throws -> WorkloadSummary
    func workload(_ uuid: UUID) async throws -> WorkloadSummary
    func start(_ uuid: UUID) async throws -> WorkloadSummary
    func stop(_ uuid: UUID) async throws -> WorkloadSummary
    func abort(_ uuid: UUID) async throws -> WorkloadSummary
    func workloads(
        project: String?, state: String?, label: String?, creator: String?, sort: String?, cursor: String?, limit: Int?
    ) async throws -> Page<WorkloadSummary>
    func workflows(
        _ uuid: UUID, status: String?, submission: String?, includeRetried: Bool, cursor: String?, limit: Int?
    ) async throws -> Page<WorkflowSummary>
    func events(_ uuid: UUID, cursor: String?, limit: Int?) async throws -> Page<EventSummary>
    /// A workflow on its own, any attempt (`workload` names its workload).
    func workflow(_ uuid: UUID) async throws -> WorkflowSummary
    func logs(_ workload: UUID, workflow: UUID, stream: LogStream, tail: Int?, from: Int64?) async throws -> LogChunk
    /// The new attempts.
    func retry(_ uuid: UUID, request: JSONValue) async throws -> [WorkflowSummary]
    func redeliver(_ uuid: UUID, request: JSONValue) async throws -> WorkloadSummary
    func stages() async throws -> [JSONValue]
    func createToken(_ request: JSONValue) async throws -> TokenSummary
    func tokens() async throws -> [TokenSummary]
    func revokeToken(name: String) async throws -> TokenSummary

    /// Moves the workload along once, if this process does the updating (on the database it
    /// does, beside any `wfl serve`; over HTTP the server's update loop does).
    func advance(_ uuid: UUID) async
    /// Who carries a workload on when `exec --wait` stops waiting.
    var carriesOn: String { get }
}

enum Clients {
    /// Runs `body` with the client `options` choose: a server when `--server` or
    /// `WFL_SERVER` names one, else the database (the embedded one started if need be, and
    /// released afterwards).
    static func with<T: Sendable>(
        _ options: GlobalOptions, _ body: @escaping @Sendable (any LauncherClient) async throws -> T
    ) async throws -> T {
        if let remote = try RemoteClient.chosen(options) {
            _ = try Launcher.bootstrapLogging(options.logLevel, format: options.logFormat, default: .warning)
            return try await body(remote)
        }
        return try await Launcher.with(options) { launcher in try await body(LocalClient(launcher: launcher)) }
    }
}

/// The service layer on the database, as the local user (an admin: whoever holds the
/// database's credentials can do anything anyway).
struct LocalClient: LauncherClient {
    let launcher: Launcher
    var service: WorkloadService { launcher.service }

    func create(_ request: JSONValue, start: Bool) async throws -> WorkloadSummary {
        // Relative paths in the request are the user's: resolved against this directory.
        try .read(try await service.create(request, start: start, relativeTo: FileManager.default.currentDirectoryPath).json)
    }

    func workload(_ uuid: UUID) async throws -> WorkloadSummary { try .read(try await service.workload(uuid).json) }
    func start(_ uuid: UUID) async throws -> WorkloadSummary { try .read(try await service.start(uuid).json) }
    func stop(_ uuid: UUID) async throws -> WorkloadSummary { try .read(try await service.stop(uuid).json) }
    func abort(_ uuid: UUID) async throws -> WorkloadSummary { try .read(try await service.abort(uuid).json) }

    func workloads(
        project: String?, state: String?, label: String?, creator: String?, sort: String?, cursor: String?, limit: Int?
    ) async throws -> Page<WorkloadSummary> {
        let page = try await service.workloads(
            project: project, state: state, label: label, creator: creator, sort: sort, cursor: cursor, limit: limit)
        return Page(items: try .readAll(page.items.map(\.json)), nextCursor: page.nextCursor)
    }

    func workflows(
        _ uuid: UUID, status: String?, submission: String?, includeRetried: Bool, cursor: String?, limit: Int?
    ) async throws -> Page<WorkflowSummary> {
        let page = try await service.workflows(
            uuid, status: status, submission: submission, includeRetried: includeRetried, cursor: cursor, limit: limit)
        return Page(items: try .readAll(page.items.map(\.json)), nextCursor: page.nextCursor)
    }

    func events(_ uuid: UUID, cursor: String?, limit: Int?) async throws -> Page<EventSummary> {
        let page = try await service.events(uuid, cursor: cursor, limit: limit)
        return Page(items: try .readAll(page.items.map(\.json)), nextCursor: page.nextCursor)
    }

    func retry(_ uuid: UUID, request: JSONValue) async throws -> [WorkflowSummary] {
        try .readAll(try await service.retry(uuid, request: request).map(\.json))
    }

    func workflow(_ uuid: UUID) async throws -> WorkflowSummary {
        let found = try await service.workflow(uuid)
        var json = found.record.json.objectValue ?? [:]
        json["workload"] = .string(found.workload.uuidString.lowercased())
        return try .read(.object(json))
    }

    func logs(_ workload: UUID, workflow: UUID, stream: LogStream, tail: Int?, from: Int64?) async throws -> LogChunk {
        try await service.logs(workload, workflow: workflow, stream: stream.rawValue, tail: tail, from: from)
    }

    func redeliver(_ uuid: UUID, request: JSONValue) async throws -> WorkloadSummary {
        try .read(try await service.redeliver(uuid, request: request).json)
    }

    func stages() async throws -> [JSONValue] { try service.stages() }
    func createToken(_ request: JSONValue) async throws -> TokenSummary { try .read(try await service.createToken(request).json) }
    func tokens() async throws -> [TokenSummary] { try .readAll(try await service.tokens().map(\.json)) }
    func revokeToken(name: String) async throws -> TokenSummary { try .read(try await service.revokeToken(name: name).json) }

    func advance(_ uuid: UUID) async {
        guard let current = try? await service.workload(uuid), current.record.finished == nil else { return }
        _ = await launcher.updater.updateRecordingErrors(current.record, wait: .zero)
    }

    var carriesOn: String { "The workload goes on under `wfl serve` or `wfl update`." }
}
