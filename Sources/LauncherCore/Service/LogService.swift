import Foundation

/// A workflow on its own (the workflow page, `wfl logs`), and its output.
extension WorkloadService {
    /// A workflow, any attempt, with its workload's uuid.
    public func workflow(_ uuid: UUID) async throws -> (workload: UUID, record: WorkflowRecord) {
        try principal.require(.viewer, to: "read workflows")
        guard let found = try await store.workflow(uuid: uuid) else {
            throw LauncherError.notFound(
                "No workflow found matching uuid \(uuid.uuidString.lowercased())", ["uuid": .string(uuid.uuidString.lowercased())])
        }
        return found
    }

    /// The last `tail` lines of a workflow's stdout or stderr (default stdout, 100 lines), or
    /// the bytes from `offset` on (for following it), from wherever its executor keeps them.
    /// Never more than `LogReader.maxBytes`, never outside the workflow's own work folder.
    public func logs(_ workload: UUID, workflow uuid: UUID, stream: String?, tail: Int?, from offset: Int64?) async throws -> LogChunk {
        try principal.require(.viewer, to: "read workflow logs")
        let stream =
            try stream.map { text in
                guard let stream = LogStream(rawValue: text.lowercased()) else {
                    throw LauncherError.invalid("stream", "expected stdout or stderr, got \"\(Constraint.excerpt(text, max: 40))\"")
                }
                return stream
            } ?? .stdout
        if let tail, !(1...LogReader.maxTailLines).contains(tail) {
            throw LauncherError.invalid("tail", "must be between 1 and \(LogReader.maxTailLines), got \(tail)")
        }
        if let offset, offset < 0 { throw LauncherError.invalid("from", "must be at least 0, got \(offset)") }
        if tail != nil && offset != nil { throw LauncherError.invalid("tail", "give tail or from, not both") }
        let record = try await find(workload)
        guard let found = try await store.workflow(uuid: uuid), found.workload == record.uuid else {
            throw LauncherError.notFound(
                "No workflow \(uuid.uuidString.lowercased()) in workload \(record.uuid.uuidString.lowercased())",
                ["workflow": .string(uuid.uuidString.lowercased())])
        }
        let workflow = found.record
        let executor = try registry.makeExecutor(.object(record.executorConfig), context: environment.storedContext)
        let context = StageContext(workloadUUID: record.uuid, project: record.project, logger: logger, environment: environment)
        let location: WorkflowLogLocation
        do {
            location = try await executor.logLocation(of: workflow.active, stream: stream, context: context)
        } catch let error as LauncherError {
            throw error
        } catch {
            throw LauncherError(.unavailable, "the \(executor.typeName) backend did not give the log", internalDetail: "\(error)")
        }
        switch location {
        case .file(let root, let folder, let name):
            return try LogReader.read((root, folder, name), tail: tail, from: offset)
        case .text(let text):
            return LogReader.slice(text, tail: tail, from: offset)
        case .unavailable(let message, let link):
            throw LauncherError(.notFound, message, details: .object(["link": JSONValue(link)].compacted))
        }
    }
}
