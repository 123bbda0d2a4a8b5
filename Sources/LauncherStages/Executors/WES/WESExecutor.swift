import Foundation
import LauncherCore
import LauncherStageSupport
import NIOCore

/// `{"name": "WES", "url": "http://host/ga4gh/wes/v1", "workflowUrl": "…", "workflowType": "CWL", …}`
///
/// Submits one run per item to a GA4GH Workflow Execution Service (Cromwell, Toil, Sapporo,
/// Arvados, wes-service …) and tracks it:
///
/// - **Create** asks the server's `service-info` and refuses a workflow type or version it
///   does not support.
/// - **Submit**: `POST /runs` with the item's inputs as `workflow_params` and tags carrying the
///   launcher's workflow and workload uuids (the idempotency key). A 4xx fails the workflow with
///   the server's message; a 5xx or a timeout is retried with backoff, then set aside.
/// - **Poll** with one `GET /runs` listing per tick (every page), falling back to
///   `GET /runs/{id}/status` for runs the listing does not show. Any HTTP error or timeout is
///   "unknown, ask again".
/// - **After a crash**, a workflow that may have been submitted is looked up by its tag first.
struct WESExecutor: Executor, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "WES"
        static let summary = "Submits one run per item to a GA4GH Workflow Execution Service (/ga4gh/wes/v1) and tracks it."

        var url = ""
        var workflowUrl: String?
        var workflowAttachment: String?
        var workflowAttachments: [String] = []
        var workflowType = ""
        var workflowTypeVersion = ""
        var engineParameters: JSONObject = [:]
        var tags: [String: String] = [:]
        var tokenSecret: String?
        var tokenEnv: String?
        var tokenFile: String?
        var requestTimeoutSeconds = 30.0
        var maxActive: Int?
        var maxSubmitPerTick: Int?
        var pollSeconds = 5.0

        static let fields: [Field<Config>] = [
            Field(
                "url", \.url, .text(max: 2048, nonBlank: true), required: true,
                "The server, e.g. \"https://wes.example.org/ga4gh/wes/v1\" (the API path is added if missing)."),
            Field(
                "workflowUrl", \.workflowUrl, .text(max: 2048, nonBlank: true),
                "The workflow: a URL the server can read, or the name of the attachment."),
            Field(
                "workflowAttachment", \.workflowAttachment, .path,
                "A workflow file, or a folder of files, sent with every run (paths relative to the folder kept); workflowUrl defaults to the file's name."
            ),
            Field(
                "workflowAttachments", \.workflowAttachments, .list(.path, max: WESAttachments.maxFiles),
                "Several files sent with every run, named by their paths relative to their common folder; workflowUrl defaults to the first."
            ),
            Field(
                "workflowType", \.workflowType, .text(max: 64, nonBlank: true), required: true,
                "e.g. \"CWL\" or \"WDL\"; checked against the server's service-info."),
            Field(
                "workflowTypeVersion", \.workflowTypeVersion, .text(max: 64, nonBlank: true), required: true,
                "e.g. \"v1.2\"; checked against the server's service-info."),
            Field("engineParameters", \.engineParameters, .freeForm(), "workflow_engine_parameters for every run."),
            Field(
                "tags", \.tags, .map(key: .text(max: 256, nonBlank: true), value: .text(max: 4096), max: 100),
                "Extra tags (name: value) for every run."),
            Field(
                "tokenSecret", \.tokenSecret, .matching("[A-Za-z0-9][A-Za-z0-9._-]*", "is not a secret name", max: 128),
                "A named secret of the operator's (a file in WFL_SECRETS_DIR) sent as the bearer token; never stored or shown."),
            Field(
                "tokenEnv", \.tokenEnv, .matching("[A-Za-z_][A-Za-z0-9_]*", "is not an environment variable name", max: 256),
                "An environment variable holding a bearer token, among those the operator allows (WFL_SECRET_VARIABLES)."),
            Field(
                "tokenFile", \.tokenFile, .path, "A file holding a bearer token, inside the operator's secrets folder (WFL_SECRETS_DIR)."),
            Field("requestTimeoutSeconds", \.requestTimeoutSeconds, .seconds(max: 3600), "Time limit for each request."),
            Field("maxActive", \.maxActive, .count(), "Most runs of this workload active at once."),
            Field("maxSubmitPerTick", \.maxSubmitPerTick, .count(), "Most runs submitted per update of the workload."),
            Field("pollSeconds", \.pollSeconds, .seconds(allowZero: true, max: 86_400), "Seconds between status queries."),
        ]

        mutating func finish(at path: FieldPath, context: ConfigContext) throws {
            url = url.trimmingCharacters(in: .whitespaces)
            guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""),
                components.host?.isEmpty == false
            else {
                throw path.key("url").invalid("\"\(Constraint.excerpt(url))\" is not an http(s) URL")
            }
            while url.hasSuffix("/") { url.removeLast() }
            if !url.contains("/ga4gh/wes/") { url += "/ga4gh/wes/v1" }

            if context.origin == .request, workflowAttachment != nil || !workflowAttachments.isEmpty {
                do {
                    _ = try WESAttachments.collect(single: workflowAttachment, list: workflowAttachments)
                } catch {
                    throw path.key(workflowAttachment != nil ? "workflowAttachment" : "workflowAttachments").invalid("\(error)")
                }
            }
            if workflowUrl == nil { workflowUrl = WESAttachments.defaultName(single: workflowAttachment, list: workflowAttachments) }
            guard workflowUrl != nil else {
                throw path.key("workflowUrl").invalid(
                    "required: give workflowUrl (for an attached folder, the main file's name in it) or workflowAttachment")
            }
            if let reserved = tags.keys.sorted().first(where: { $0.hasPrefix("wfl_") }) {
                throw path.key("tags").key(reserved).invalid("tags starting with wfl_ are the launcher's own")
            }
            let tokens = [("tokenSecret", tokenSecret), ("tokenEnv", tokenEnv), ("tokenFile", tokenFile)].filter { $0.1 != nil }
            if tokens.count > 1 {
                throw path.key(tokens[1].0).invalid("give one of tokenSecret, tokenEnv and tokenFile")
            }
            guard context.origin == .request else { return }
            // The URL is the request's choice: only hosts the operator lets the launcher call, and a
            // secret only where the operator lets it go.
            if let problem = OutboundPolicy(context.settings).problem(url: url) { throw path.key("url").invalid(problem) }
            if let token, let problem = Secrets(context.settings).problem(token, host: URLComponents(string: url)?.host) {
                throw path.key(tokens[0].0).invalid(problem)
            }
        }

        var token: Secrets.Reference? {
            if let tokenSecret { return .named(tokenSecret) }
            if let tokenEnv { return .variable(tokenEnv) }
            return tokenFile.map { .file($0) }
        }
    }

    static let type = StageType<any Executor>(Config.self) { WESExecutor(config: $0) }

    let config: Config
    var url: String { config.url }
    var workflowURL: String { config.workflowUrl ?? "" }

    var maxActive: Int? { config.maxActive }
    var maxSubmitPerTick: Int? { config.maxSubmitPerTick }

    func client(_ context: StageContext) -> WESClient {
        WESClient(
            base: url, timeout: .milliseconds(Int64(config.requestTimeoutSeconds * 1000)), token: config.token,
            settings: context.environment.settings)
    }

    /// Refuses a workflow type or version the server does not support, naming the field.
    func validateRemotely(_ context: StageContext) async throws {
        let info: WESServiceInfo
        do {
            info = try await client(context).serviceInfo()
        } catch {
            throw LauncherError.invalid("executor.url", "cannot read service-info from \(url): \(error)")
        }
        guard let versions = info.workflowTypeVersions else {
            throw LauncherError.invalid("executor.url", "\(url)/service-info lists no workflow_type_versions; is this a WES server?")
        }
        let workflowType = config.workflowType, workflowTypeVersion = config.workflowTypeVersion
        guard let supported = versions[workflowType] else {
            throw LauncherError.invalid(
                "executor.workflowType",
                "the server at \(url) does not run \(workflowType) workflows; it supports \(versions.keys.sorted().joined(separator: ", "))",
                ["supported": .array(versions.keys.sorted().map(JSONValue.string))])
        }
        let known = supported.workflowTypeVersion ?? []
        guard known.isEmpty || known.contains(workflowTypeVersion) else {
            throw LauncherError.invalid(
                "executor.workflowTypeVersion",
                "the server at \(url) does not support \(workflowType) \(workflowTypeVersion); it supports \(known.joined(separator: ", "))",
                ["supported": .array(known.map(JSONValue.string))])
        }
    }

    // MARK: Submit

    func submit(_ workflows: [LaunchRequest], context: StageContext) async throws -> [UUID: SubmitOutcome] {
        var outcomes: [UUID: SubmitOutcome] = [:]
        let uncertain = workflows.filter(\.mayExist)
        if !uncertain.isEmpty {
            do {
                let found = try await lookup(Set(uncertain.map(\.uuid)), context: context)
                for (uuid, run) in found {
                    outcomes[uuid] = .launched(Launched(externalID: run, details: ["runId": .string(run)]))
                }
            } catch {
                // Unknown whether they exist: submitting again could run them twice. Wait.
                for workflow in uncertain {
                    outcomes[workflow.uuid] = .deferred("cannot check the WES server for an earlier run: \(error)")
                }
            }
        }
        var attachments: [(name: String, data: Data)] = []
        if config.workflowAttachment != nil || !config.workflowAttachments.isEmpty {
            do {
                attachments = try WESAttachments.collect(single: config.workflowAttachment, list: config.workflowAttachments).read()
            } catch {
                for workflow in workflows where outcomes[workflow.uuid] == nil { outcomes[workflow.uuid] = .deferred("\(error)") }
                return outcomes
            }
        }
        let toSubmit = workflows.filter { outcomes[$0.uuid] == nil }
        let files = attachments
        let submitted = await forEach(toSubmit, limit: 4) { workflow in
            await self.submitOne(workflow, context: context, attachments: files)
        }
        for (workflow, outcome) in submitted { outcomes[workflow.uuid] = outcome }
        return outcomes
    }

    private func submitOne(_ workflow: LaunchRequest, context: StageContext, attachments: [(name: String, data: Data)]) async
        -> SubmitOutcome
    {
        var runTags = config.tags
        runTags["wfl_workflow"] = workflow.uuid.uuidString.lowercased()
        runTags["wfl_workload"] = context.workloadUUID.uuidString.lowercased()
        runTags["wfl_attempt"] = String(workflow.attempt)
        let fields: [(String, String)] = [
            ("workflow_params", JSONValue.object(workflow.inputs).description),
            ("workflow_type", config.workflowType),
            ("workflow_type_version", config.workflowTypeVersion),
            ("workflow_url", workflowURL),
            ("tags", JSONValue.object(runTags.mapValues(JSONValue.string)).description),
            ("workflow_engine_parameters", JSONValue.object(config.engineParameters).description),
        ]
        do {
            let run = try await client(context).submit(fields: fields, attachments: attachments)
            return .launched(Launched(externalID: run, details: ["runId": .string(run)]))
        } catch BackendError.refused(_, let status, let message) {
            return .failed(WorkflowError("the WES server refused the run (HTTP \(status))" + (message.map { ": \($0)" } ?? "")))
        } catch {
            return .deferred("\(error)")
        }
    }

    /// Runs carrying these workflows' tags: every run's record is read (the API has no tag
    /// filter), so this runs only for workflows an earlier attempt may have submitted.
    private func lookup(_ uuids: Set<UUID>, context: StageContext) async throws -> [UUID: String] {
        let client = self.client(context)
        let runs = Array(try await client.listRuns().keys)
        let logs = await forEach(runs, limit: 8) { run in try? await client.runLog(run) }
        var found: [UUID: String] = [:]
        for (run, log) in logs {
            if let tag = log?.request?.tags?["wfl_workflow"]?.stringValue, let uuid = UUID(uuidString: tag), uuids.contains(uuid) {
                found[uuid] = run
            }
        }
        return found
    }

    // MARK: Poll

    func poll(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> PollResult {
        let client = self.client(context)
        var states: [String: String] = [:]
        do {
            states = try await client.listRuns()
        } catch let error as BackendError where error.isRefused {
            states = [:]  // no listing on this server: ask run by run below
        }
        let unlisted = workflows.compactMap(\.externalID).filter { states[$0] == nil }
        var failures: [String] = []
        for (run, state) in await forEach(unlisted, limit: 8, { run in await attempt { try await client.status(run) } }) {
            switch state {
            case .success(let value): states[run] = value
            case .failure(let error): failures.append("\(error)")
            }
        }
        if !failures.isEmpty, failures.count == unlisted.count, !unlisted.isEmpty {
            throw BackendError.unavailable(service: "the WES server", reason: failures[0])
        }
        // Final runs: their log carries outputs, exit code and stderr.
        let finished = workflows.compactMap { workflow -> String? in
            guard let run = workflow.externalID, let state = states[run] else { return nil }
            return ["COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"].contains(state) ? run : nil
        }
        var logs: [String: WESRunLog] = [:]
        for (run, log) in await forEach(finished, limit: 8, { run in try? await client.runLog(run) }) {
            if let log { logs[run] = log }
        }
        let updates = workflows.compactMap { workflow -> WorkflowUpdate? in
            guard let run = workflow.externalID, let state = states[run] else { return nil }
            return update(workflow, run: run, state: state, log: logs[run])
        }
        return PollResult(updates: updates, nextPoll: Date().addingTimeInterval(config.pollSeconds))
    }

    private func update(_ workflow: ActiveWorkflow, run: String, state: String, log: WESRunLog?) -> WorkflowUpdate? {
        let status: WorkflowStatus
        switch state {
        case "QUEUED", "INITIALIZING": status = .queued
        case "RUNNING", "PAUSED": status = .running
        case "CANCELING": status = .aborting
        case "CANCELED": status = .aborted
        case "COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR":
            guard let log else { return nil }  // the log did not come: ask again
            return finished(workflow, run: run, state: state, log: log)
        default: return nil  // UNKNOWN, or a state this launcher does not know: ask again
        }
        guard status != workflow.status, !(workflow.status == .aborting && status != .aborted) else { return nil }
        return WorkflowUpdate(uuid: workflow.uuid, status: status, details: ["wesState": .string(state)])
    }

    private func finished(_ workflow: ActiveWorkflow, run: String, state: String, log: WESRunLog) -> WorkflowUpdate {
        var details: JSONObject = ["runId": .string(run), "wesState": .string(state)]
        let exitCode = log.runLog?.exitCode
        if let exitCode { details["exitCode"] = .int(Int64(exitCode)) }
        var stderr = log.runLog?.stderr ?? ""
        if stderr.count > 2000 { stderr = "…" + stderr.suffix(2000) }
        if !stderr.isEmpty { details["stderr"] = .string(stderr) }
        if state == "COMPLETE" {
            return WorkflowUpdate(uuid: workflow.uuid, status: .succeeded, outputs: log.outputs?.objectValue ?? [:], details: details)
        }
        let lastLine = ErrorExcerpt.meaningful(stderr).map { ": \($0)" } ?? ""
        if state == "SYSTEM_ERROR" {
            return WorkflowUpdate(
                uuid: workflow.uuid, status: .failed, details: details,
                error: .infrastructure("SYSTEM_ERROR: the WES server failed to run it\(lastLine)"))
        }
        return WorkflowUpdate(
            uuid: workflow.uuid, status: .failed, details: details,
            error: WorkflowError("EXECUTOR_ERROR\(exitCode.map { ": exit code \($0)" } ?? "")\(lastLine)"))
    }

    // MARK: Logs

    /// The run log's stdout or stderr. The WES spec makes them URLs, which are shown, not
    /// fetched (the server chose them: fetching would let it point the launcher anywhere);
    /// servers that put the text itself there (wes-service) have it returned.
    func logLocation(of workflow: ActiveWorkflow, stream: LogStream, context: StageContext) async throws -> WorkflowLogLocation {
        guard let run = workflow.externalID else { return .text("") }
        let log = try await client(context).runLog(run).runLog
        let value = (stream == .stdout ? log?.stdout : log?.stderr) ?? ""
        let lowered = value.prefix(8).lowercased()
        if lowered.hasPrefix("http://") || lowered.hasPrefix("https://") {
            return .unavailable("the WES server keeps this log at its own URL", link: String(value.prefix(2048)))
        }
        // Whole (the reply is bounded already): the reader cuts the tail, and a follower's offsets count from its start.
        return .text(value)
    }

    // MARK: Abort

    func abort(_ workflows: [ActiveWorkflow], context: StageContext) async throws -> [WorkflowUpdate] {
        var runs: [UUID: String] = [:]
        for workflow in workflows { if let run = workflow.externalID { runs[workflow.uuid] = run } }
        let unknown = Set(workflows.filter { $0.externalID == nil }.map(\.uuid))
        if !unknown.isEmpty { runs.merge(try await lookup(unknown, context: context)) { a, _ in a } }
        let client = self.client(context)
        let results = Dictionary(
            await forEach(Array(Set(runs.values)), limit: 8) { run in
                await attempt { try await client.cancel(run) }
            }, uniquingKeysWith: { a, _ in a })
        var updates: [WorkflowUpdate] = []
        for workflow in workflows {
            guard let run = runs[workflow.uuid] else {
                updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .aborted))  // never reached the server
                continue
            }
            switch results[run] {
            case .success?:
                updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .aborting, externalID: run))
            case .failure(BackendError.refused(_, 404, _))?:
                updates.append(WorkflowUpdate(uuid: workflow.uuid, status: .aborted, externalID: run))
            case .failure(let error)?:
                throw error
            case nil:
                break
            }
        }
        return updates
    }
}
