import Foundation
import HTTPTypes
import Hummingbird
import LauncherCore
import Logging
import Mustache
import NIOCore

/// The dashboard at `/ui/`: server-rendered pages over the same service layer as the API and
/// the CLI (so the same roles apply: a viewer sees no buttons, and the service refuses the
/// action anyway), a stylesheet, and a small script that refreshes a workload's numbers.
struct Dashboard: Sendable {
    let service: WorkloadService
    let auth: AuthConfiguration
    let session = DashboardSession()
    let library: MustacheLibrary
    let logger = Logger(label: "wfl.dashboard")

    /// The dashboard's routes, for the route table (they are open there: each page asks for a
    /// login itself, since a browser is sent to a login page rather than answered 401).
    static let routes: [(HTTPRequest.Method, String)] = [
        (.get, "/ui/"), (.get, "/ui/style.css"), (.get, "/ui/app.js"), (.get, "/ui/favicon.svg"), (.get, "/ui/login"), (.post, "/ui/login"),
        (.post, "/ui/logout"), (.get, "/ui/workloads/:uuid"), (.get, "/ui/workloads/:uuid/live"), (.get, "/ui/workloads/:uuid/workflows"),
        (.get, "/ui/workflows/:uuid"), (.post, "/ui/workloads/:uuid/start"), (.post, "/ui/workloads/:uuid/stop"),
        (.post, "/ui/workloads/:uuid/abort"), (.post, "/ui/workloads/:uuid/retry"),
    ]

    init(service: WorkloadService, auth: AuthConfiguration) {
        self.service = service
        self.auth = auth
        var library = MustacheLibrary()
        for (name, text) in DashboardTemplates.all {
            // The templates are the binary's own: one that does not parse is a bug caught by every test.
            try! library.register(text, named: name)
        }
        self.library = library
    }

    func register(_ router: Router<LauncherRequestContext>) {
        router.get("/ui/style.css") { _, _ in asset(DashboardTemplates.stylesheet, type: "text/css; charset=utf-8") }
        router.get("/ui/app.js") { _, _ in asset(DashboardTemplates.script, type: "text/javascript; charset=utf-8") }
        router.get("/ui/favicon.svg") { _, _ in asset(DashboardTemplates.favicon, type: "image/svg+xml") }
        router.get("/ui/login") { request, _ in
            var page = PageValues(request: request, session: session, principal: nil, title: "Log in")
            page["next"] = safeNext(formQuery(request)["next"])
            return render("login", page)
        }
        router.post("/ui/login") { request, context in
            let form: [String: String]
            do {
                form = try await DashboardSession.form(request)
                try session.check(request, form: form)
            } catch let error as LauncherError {
                return refusedForm(request, error, template: "login", next: "/ui/")
            }
            let token = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let next = safeNext(form["next"])
            guard !token.isEmpty, token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                return page(request, nil, "login", title: "Log in", notice: "Paste a token.", next: next)
            }
            // Browsers drop cookies past about 4 KB, which would send the user back here forever.
            guard token.utf8.count <= 3800 else {
                return page(
                    request, nil, "login", title: "Log in",
                    notice:
                        "This token is too long to keep in a browser cookie (\(token.utf8.count) bytes); use an API token from `wfl token create`.",
                    next: next)
            }
            // Checked now, so a wrong token is told here rather than on the next page.
            do {
                _ = try await BearerAuthenticator(service: service, configuration: auth).principal(forToken: token)
            } catch let error as LauncherError {
                return page(request, nil, "login", title: "Log in", notice: "Not logged in: \(error.message)", next: next)
            }
            var response = Response(status: .seeOther, headers: [.location: next])
            response.headers[values: .setCookie].append(
                DashboardSession.setCookie(DashboardSession.sessionCookie, token, request: request, maxAge: 12 * 3600))
            _ = context
            return response
        }
        router.post("/ui/logout") { request, _ in
            do {
                try session.check(request, form: try await DashboardSession.form(request))
            } catch let error as LauncherError {
                return refusedForm(request, error, template: "login", next: "/ui/")
            }
            var response = Response(status: .seeOther, headers: [.location: "/ui/"])
            response.headers[values: .setCookie].append(
                DashboardSession.setCookie(DashboardSession.sessionCookie, "", request: request, maxAge: 0))
            return response
        }
        router.get("/ui/") { request, context in
            try await guarded(request, context) { service in try await workloads(request, service) }
        }
        router.get("/ui/workloads/:uuid") { request, context in
            try await guarded(request, context) { service in try await workload(request, context, service) }
        }
        router.get("/ui/workloads/:uuid/live") { request, context in
            try await guarded(request, context) { service in try await live(context, service) }
        }
        router.get("/ui/workloads/:uuid/workflows") { request, context in
            try await guarded(request, context) { service in try await workflows(request, context, service) }
        }
        router.get("/ui/workflows/:uuid") { request, context in
            try await guarded(request, context) { service in try await workflow(request, context, service) }
        }
        for action in ["start", "stop", "abort", "retry"] {
            router.post("/ui/workloads/:uuid/\(action)") { request, context in
                try await guarded(request, context) { service in try await act(action, request, context, service) }
            }
        }
    }

    // MARK: Pages

    private func workloads(_ request: Request, _ service: WorkloadService) async throws -> Response {
        let query = formQuery(request)
        func given(_ parameter: QueryParameter) throws -> String? { try parameter.text(query).flatMap { $0.isEmpty ? nil : $0 } }
        let (project, label, creator) = (
            try given(QueryParameters.project), try given(QueryParameters.label), try given(QueryParameters.creator)
        )
        let state = try given(QueryParameters.state) ?? ""
        let sort = try given(QueryParameters.sort).map { try WorkloadOrder.parse($0) } ?? .oldest
        let cursor = try given(QueryParameters.cursor)
        let listed = try await service.workloads(
            project: project, state: state.isEmpty ? nil : state, label: label, creator: creator, sort: sort.rawValue, cursor: cursor,
            limit: 50)
        let views = listed.items
        var page = PageValues(request: request, session: session, principal: service.principal, title: "Workloads")
        page["project"] = project ?? ""
        page["label"] = label ?? ""
        page["creator"] = creator ?? ""
        page["states"] = ([("", "any")] + WorkloadState.allCases.map { ($0.rawValue, $0.rawValue) }).map { value, name in
            ["value": value, "label": name, "selected": value.lowercased() == state.lowercased()] as [String: Any]
        }
        page["empty"] = views.isEmpty
        page["rows"] = views.map { view -> [String: Any] in
            let done = WorkflowStatus.final.reduce(0) { $0 + (view.counts[$1] ?? 0) }
            return [
                "uuid": view.record.uuid.uuidString.lowercased(), "short": String(view.record.uuid.uuidString.lowercased().prefix(8)),
                "project": view.record.project, "state": view.record.state, "stateClass": view.record.state,
                "executor": view.record.executorConfig["name"]?.stringValue ?? "?", "creator": view.record.creator,
                "created": Self.time(view.record.created), "bar": Charts.countsBar(view.counts, width: 160),
                "done": done, "total": view.counts.values.reduce(0, +),
            ]
        }
        // The filters as query items, for the next page and the sortable column headers.
        var filters: [URLQueryItem] = []
        for (name, value) in [("project", project), ("label", label), ("creator", creator), ("state", state.isEmpty ? nil : state)] {
            if let value { filters.append(URLQueryItem(name: name, value: value)) }
        }
        func sorted(_ order: WorkloadOrder) -> String { Self.link("/ui/", filters + [URLQueryItem(name: "sort", value: order.rawValue)]) }
        page["sortProject"] = sorted(.project)
        page["sortCreated"] = sorted(sort == .newest ? .oldest : .newest)
        page["sortedBy"] = ["project": sort == .project, "newest": sort == .newest, "oldest": sort == .oldest]
        if let next = listed.nextCursor {
            page["next"] = Self.link(
                "/ui/", [URLQueryItem(name: "cursor", value: next)] + filters + [URLQueryItem(name: "sort", value: sort.rawValue)])
        }
        return render("workloads", page)
    }

    private func workload(_ request: Request, _ context: LauncherRequestContext, _ service: WorkloadService) async throws -> Response {
        let uuid = try WorkloadService.parseUUID(context.parameters.get("uuid") ?? "")
        let view = try await service.workload(uuid)
        let progress = try await service.progress(view)
        let events = try await service.recentEvents(uuid, limit: 50)
        let record = view.record
        let id = record.uuid.uuidString.lowercased()
        var page = PageValues(request: request, session: session, principal: service.principal, title: "Workload \(id.prefix(8))")
        page["notice"] = formQuery(request)["done"].flatMap(Self.notice)
        page["uuid"] = id
        page["project"] = record.project
        page["creator"] = record.creator
        page["created"] = Self.time(record.created)
        page["state"] = record.state
        page["stateClass"] = record.state
        page["percent"] = progress.percent
        page["done"] = progress.done
        page["total"] = progress.total
        page["eta"] = Self.eta(progress, finished: record.finished != nil)
        page["bar"] = Charts.countsBar(view.counts, width: 640)
        page["chart"] = Charts.perMinute(progress.perMinute)
        page["counts"] = WorkflowStatus.allCases.map { status -> [String: Any] in
            ["status": status.rawValue, "class": status.rawValue, "count": view.counts[status] ?? 0, "uuid": id]
        }
        if let message = record.lastError {
            page["lastError"] =
                [
                    "message": message, "at": record.lastErrorAt.map(Self.time) ?? "-", "consecutive": record.errorCount,
                    "quarantined": record.quarantinedAt != nil,
                ] as [String: Any]
        }
        let canOperate = service.principal.role.map { $0 >= .operator } ?? false
        page["canOperate"] = canOperate
        page["canStart"] = record.started == nil
        page["canStop"] = record.started != nil && record.stopped == nil && record.finished == nil
        page["canAbort"] = record.aborted == nil && record.finished == nil
        let failed = view.counts[.failed] ?? 0
        page["failed"] = failed > 0 ? failed as Any : false
        page["source"] = JSONValue.object(record.sourceConfig).serialized(pretty: true)
        page["executor"] = JSONValue.object(record.executorConfig).serialized(pretty: true)
        page["sink"] = JSONValue.object(record.sinkConfig).serialized(pretty: true)
        page["events"] = events.map { event -> [String: Any] in
            ["at": Self.time(event.at), "kind": event.kind, "by": event.actor ?? "", "message": event.message]
        }
        return render("workload", page)
    }

    /// What the page script refreshes: a fixed number of queries whatever the workload's size.
    private func live(_ context: LauncherRequestContext, _ service: WorkloadService) async throws -> Response {
        let view = try await service.workload(try WorkloadService.parseUUID(context.parameters.get("uuid") ?? ""))
        let progress = try await service.progress(view, minutes: 10)
        var counts: JSONObject = [:]
        for status in WorkflowStatus.allCases { counts[status.rawValue] = .int(Int64(view.counts[status] ?? 0)) }
        return JSONResponses.json([
            "state": .string(view.record.state), "done": .int(Int64(progress.done)), "total": .int(Int64(progress.total)),
            "percent": .int(Int64(progress.percent)), "eta": .string(Self.eta(progress, finished: view.record.finished != nil)),
            "counts": .object(counts),
        ])
    }

    private func workflows(_ request: Request, _ context: LauncherRequestContext, _ service: WorkloadService) async throws -> Response {
        let uuid = try WorkloadService.parseUUID(context.parameters.get("uuid") ?? "")
        let query = formQuery(request)
        let status = try QueryParameters.status.text(query).flatMap { $0.isEmpty ? nil : $0 }
        let includeRetried = try QueryParameters.includeRetried.flag(query)
        let cursor = try QueryParameters.cursor.text(query).flatMap { $0.isEmpty ? nil : $0 }
        let listed = try await service.workflows(
            uuid, status: status, submission: nil, includeRetried: includeRetried, cursor: cursor, limit: 100)
        let id = uuid.uuidString.lowercased()
        var page = PageValues(request: request, session: session, principal: service.principal, title: "Workflows of \(id.prefix(8))")
        page["uuid"] = id
        page["short"] = String(id.prefix(8))
        page["includeRetried"] = includeRetried
        page["statuses"] = ([("", "any")] + WorkflowStatus.allCases.map { ($0.rawValue, $0.rawValue) }).map { value, label in
            ["value": value, "label": label, "selected": value.lowercased() == (status ?? "").lowercased()] as [String: Any]
        }
        page["empty"] = listed.items.isEmpty
        page["rows"] = listed.items.map { w -> [String: Any] in
            var row: [String: Any] = [
                "uuid": w.uuid.uuidString.lowercased(), "short": String(w.uuid.uuidString.lowercased().prefix(8)),
                "status": w.status.rawValue, "class": w.status.rawValue, "attempt": w.attempt,
                "inputs": Constraint.excerpt(JSONValue.object(w.inputs).description, max: 200),
                "error": w.error.map { Constraint.excerpt($0.message, max: 300) } ?? w.deliveryError.map {
                    Constraint.excerpt($0, max: 300)
                } ?? "",
                "updated": Self.time(w.updated),
            ]
            row["retryOf"] = w.retryOf?.uuidString.lowercased()
            row["retriedBy"] = w.retriedBy?.uuidString.lowercased()
            return row
        }
        if let next = listed.nextCursor {
            var items = [URLQueryItem(name: "cursor", value: next)]
            if let status { items.append(URLQueryItem(name: "status", value: status)) }
            if includeRetried { items.append(URLQueryItem(name: "includeRetried", value: "true")) }
            page["next"] = Self.link("/ui/workloads/\(id)/workflows", items)
        }
        return render("workflows", page)
    }

    private func workflow(_ request: Request, _ context: LauncherRequestContext, _ service: WorkloadService) async throws -> Response {
        let uuid = try WorkloadService.parseUUID(context.parameters.get("uuid") ?? "")
        let found = try await service.workflow(uuid)
        let w = found.record
        let workload = found.workload.uuidString.lowercased()
        var page = PageValues(
            request: request, session: session, principal: service.principal, title: "Workflow \(uuid.uuidString.lowercased().prefix(8))")
        page["uuid"] = w.uuid.uuidString.lowercased()
        page["workload"] = workload
        page["workloadShort"] = String(workload.prefix(8))
        page["attempt"] = w.attempt
        page["status"] = w.status.rawValue
        page["class"] = w.status.rawValue
        page["externalId"] = w.externalID
        page["error"] = w.error.map { ($0.kind == .infrastructure ? "[infrastructure] " : "") + $0.message } ?? w.deliveryError
        page["retryOf"] = w.retryOf?.uuidString.lowercased()
        page["retriedBy"] = w.retriedBy?.uuidString.lowercased()
        page["inputs"] = JSONValue.object(w.inputs).serialized(pretty: true)
        page["outputs"] = w.outputs.map { JSONValue.object($0).serialized(pretty: true) } ?? "(none yet)"
        page["details"] = w.details.isEmpty ? "(none)" : JSONValue.object(w.details).serialized(pretty: true)
        var logs: [[String: Any]] = []
        for stream in LogStream.allCases {
            do {
                let chunk = try await service.logs(found.workload, workflow: uuid, stream: stream.rawValue, tail: 50, from: nil)
                logs.append(["stream": stream.rawValue, "text": chunk.text.isEmpty ? "(empty)" : chunk.text])
            } catch let error as LauncherError where error.kind == .notFound || error.kind == .conflict {
                var entry: [String: Any] = ["stream": stream.rawValue, "message": error.message]
                // Only web links are links (a backend chose this one).
                if let link = error.details["link"]?.stringValue, link.hasPrefix("https://") || link.hasPrefix("http://") {
                    entry["link"] = link
                }
                logs.append(entry)
                if error.kind == .notFound { break }  // no logs for this executor: once is enough
            } catch {
                logger.warning("dashboard: a workflow's log could not be read", metadata: ["workflow": "\(uuid)", "error": "\(error)"])
                logs.append(["stream": stream.rawValue, "message": "The log cannot be read now; the server log says why."])
            }
        }
        page["logs"] = logs
        return render("workflow", page)
    }

    // MARK: Actions

    private func act(_ action: String, _ request: Request, _ context: LauncherRequestContext, _ service: WorkloadService) async throws
        -> Response
    {
        let form = try await DashboardSession.form(request)
        try session.check(request, form: form)
        let uuid = try WorkloadService.parseUUID(context.parameters.get("uuid") ?? "")
        let id = uuid.uuidString.lowercased()
        let done: String
        switch action {
        case "start":
            _ = try await service.start(uuid)
            done = "started"
        case "stop":
            _ = try await service.stop(uuid)
            done = "stopped"
        case "abort":
            guard form["confirm"] == "yes" else {
                // Asked first, on a page of its own (no script needed).
                let view = try await service.workload(uuid)
                try service.principal.require(.operator, to: "abort workloads")
                var page = PageValues(request: request, session: session, principal: service.principal, title: "Abort?")
                page["uuid"] = id
                page["short"] = String(id.prefix(8))
                page["active"] = WorkflowStatus.allCases.filter { !$0.isFinal }.reduce(0) { $0 + (view.counts[$1] ?? 0) }
                return render("confirm", page)
            }
            _ = try await service.abort(uuid)
            done = "aborted"
        default:
            var body: JSONObject = ["status": .string(form["status"] ?? "Failed")]
            if let text = form["overrides"]?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
                guard let overrides = try? JSONValue.parse(Data(text.utf8)), overrides.objectValue != nil else {
                    throw LauncherError.invalid("overrides", "expected a JSON object such as {\"memory\": \"16G\"}")
                }
                body["overrides"] = overrides
            }
            let retried = try await service.retry(uuid, request: .object(body))
            done = "retried-\(retried.count)"
        }
        return Response(
            status: .seeOther, headers: [.location: Self.link("/ui/workloads/\(id)", [URLQueryItem(name: "done", value: done)])])
    }

    // MARK: Plumbing

    /// The page for a caller who is known; a login page for one who is not (authentication
    /// on); an HTML error page, with the service's words, when the service refuses.
    private func guarded(
        _ request: Request, _ context: LauncherRequestContext, _ body: (WorkloadService) async throws -> Response
    ) async throws -> Response {
        guard let principal = context.identity else {
            let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            return Response(status: .seeOther, headers: [.location: Self.link("/ui/login", [URLQueryItem(name: "next", value: next)])])
        }
        do {
            return try await body(service.acting(as: principal))
        } catch let error as LauncherError {
            let status = error.kind.httpStatus
            if error.kind == .internalError || error.kind == .unavailable {
                logger.error(
                    "dashboard: \(request.method) \(request.uri.path) failed",
                    metadata: ["request": "\(context.id)", "error": "\(error.message)", "internal": "\(error.internalDetail ?? "")"])
            }
            var page = PageValues(request: request, session: session, principal: principal, title: "Not done")
            page["request"] = context.id
            page["heading"] = status == .forbidden ? "Not allowed" : status.code >= 500 ? "The server could not do it" : "Not done"
            page["message"] =
                error.kind == .internalError
                ? "An internal error occurred; the server log has the details under request \(context.id)." : error.message
            var response = render("error", page)
            response.status = status
            return response
        } catch {
            logger.error(
                "dashboard: \(request.method) \(request.uri.path) failed", metadata: ["request": "\(context.id)", "error": "\(error)"])
            var page = PageValues(request: request, session: session, principal: principal, title: "Not done")
            page["heading"] = "The server could not do it"
            page["message"] = "An internal error occurred; the server log has the details under request \(context.id)."
            var response = render("error", page)
            response.status = .internalServerError
            return response
        }
    }

    /// A login or logout form the server would not take (its CSRF token stale or missing, a
    /// post from another site, a body too large): the login page again, saying so, with the
    /// refusal's status. A browser user gets a page, not the API's JSON error.
    private func refusedForm(_ request: Request, _ error: LauncherError, template: String, next: String) -> Response {
        var response = page(request, nil, template, title: "Log in", notice: "Not done: \(error.message)", next: next)
        response.status = error.kind.httpStatus
        return response
    }

    private func page(
        _ request: Request, _ principal: Principal?, _ template: String, title: String, notice: String, next: String
    ) -> Response {
        var page = PageValues(request: request, session: session, principal: principal, title: title)
        page["notice"] = notice
        page["next"] = next
        return render(template, page)
    }

    private func render(_ template: String, _ page: PageValues) -> Response {
        var values = page.values
        values["version"] = service.environment.version
        let html = library.render(values, withTemplate: template) ?? ""
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
            HTTPField.Name("Content-Security-Policy")!:
                "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "same-origin",
        ]
        if let cookie = page.setCookie { headers[values: .setCookie].append(cookie) }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    private func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300", HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Where to go after logging in: a dashboard path only (never another site).
    private func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/ui/"), !next.hasPrefix("//"), !next.contains("\\"), next.utf8.count <= 2048,
            next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return "/ui/" }
        return next
    }

    private func formQuery(_ request: Request) -> [String: String] { FormEncoding.query(request) }

    /// What an action did, from the code its redirect carries: fixed words only, so a link
    /// cannot make the page say something of its author's choosing.
    static func notice(_ code: String) -> String? {
        switch code {
        case "started": return "Started."
        case "stopped": return "Stopped: the source takes no new items; running work drains."
        case "aborted": return "Aborted: nothing more is launched, and active workflows are being aborted at the backend."
        default:
            guard code.hasPrefix("retried-"), let count = Int(code.dropFirst(8)), count >= 0 else { return nil }
            return "Retrying \(count) workflow(s)."
        }
    }

    /// "2026-12-02 00:26:22 UTC": to the second, for people.
    static func time(_ date: Date) -> String {
        Timestamp.format(date).prefix(19).replacingOccurrences(of: "T", with: " ") + " UTC"
    }

    static func eta(_ progress: WorkloadService.Progress, finished: Bool) -> String {
        if finished { return "finished" }
        guard let seconds = progress.secondsLeft else { return progress.total == 0 ? "nothing to do yet" : "no estimate yet" }
        let s = Int(min(seconds, 365 * 86_400))
        if s < 90 { return "about \(s) s left" }
        if s < 5400 { return "about \(s / 60) min left" }
        return "about \(s / 3600) h \(s % 3600 / 60) min left"
    }

    static func link(_ path: String, _ items: [URLQueryItem]) -> String {
        var components = URLComponents()
        components.path = path
        components.queryItems = items.isEmpty ? nil : items
        return components.string ?? path
    }
}

/// The values a template gets, with what every page needs: who is looking, the CSRF token.
struct PageValues {
    var values: [String: Any]
    var setCookie: String?

    init(request: Request, session: DashboardSession, principal: Principal?, title: String) {
        let (seed, cookie) = session.seed(request)
        setCookie = cookie
        values = [
            "title": title, "csrf": session.token(for: seed, request: request), "who": principal?.name ?? "not logged in",
            "role": principal?.role?.rawValue ?? "", "loggedIn": principal.map { $0.kind != .anonymous } ?? false,
        ]
    }

    subscript(key: String) -> Any? {
        get { values[key] }
        set { values[key] = newValue }
    }
}
