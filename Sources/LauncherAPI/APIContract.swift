import Foundation
import HTTPTypes
import LauncherCore

/// Every route of the API, declared once: its method and path, who may call it, and what it
/// takes and answers. The router's 401s and 405s, the table-driven access test and the OpenAPI
/// document at `/openapi.json` (and `/docs`) all come from this list; the response schemas are
/// checked against the server's real answers by schemathesis in CI.
struct APIRoute: Sendable {
    enum Body: Sendable {
        case none
        case json(JSONValue, required: Bool)
    }

    let method: HTTPRequest.Method
    let path: String
    let access: RouteTable.Access
    let id: String
    let summary: String
    var query: [QueryParameter] = []
    var body: Body = .none
    /// A `$ref` name under components/schemas, or an inline schema.
    let response: JSONValue
    var paged = false
    var contentType = "application/json"
    /// Response headers besides the request id (and the pagination headers of a paged route).
    var headers: JSONObject = [:]
}

enum APIContract {
    static let version = "1"

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func array(of name: String) -> JSONValue { ["type": "array", "items": ref(name)] }

    static func routes(_ registry: StageRegistry) -> [APIRoute] {
        let workload = RequestSchemas.workload(registry)
        return [
            APIRoute(method: .get, path: "/", access: .open, id: "root", summary: "Liveness.", response: ref("Status")),
            APIRoute(method: .get, path: "/status", access: .open, id: "status", summary: "Liveness.", response: ref("Status")),
            APIRoute(
                method: .get, path: "/version", access: .open, id: "version", summary: "The server's name and version.",
                response: ref("Version")),
            APIRoute(
                method: .get, path: "/health", access: .open, id: "health",
                summary: "200 when the database answers within a second and the update loop completes passes; 503 with the reasons.",
                response: ref("Health")),
            APIRoute(
                method: .get, path: "/metrics", access: .metrics, id: "metrics", summary: "Prometheus metrics.",
                response: ["type": "string"], contentType: "text/plain"),
            APIRoute(
                method: .get, path: "/openapi.json", access: .open, id: "openapi", summary: "This document.",
                response: ["type": "object"]),
            APIRoute(
                method: .get, path: "/docs", access: .open, id: "docs", summary: "This document as a web page.",
                response: ["type": "string"], contentType: "text/html"),
            APIRoute(
                method: .get, path: "/api/v1/stages", access: .role(.viewer), id: "stages",
                summary: "Every stage type with its fields, types, defaults and ranges.", response: array(of: "StageType")),
            APIRoute(
                method: .post, path: "/api/v1/create", access: .role(.operator), id: "create",
                summary: "Create a workload (not started). Local and Container executors need an admin.",
                body: .json(workload, required: true), response: ref("Workload")),
            APIRoute(
                method: .post, path: "/api/v1/exec", access: .role(.operator), id: "exec",
                summary: "Create and start a workload in one transaction.", body: .json(workload, required: true),
                response: ref("Workload")),
            APIRoute(
                method: .post, path: "/api/v1/start", access: .role(.operator), id: "start", summary: "Start a workload.",
                body: .json(RequestSchemas.uuid, required: true), response: ref("Workload")),
            APIRoute(
                method: .post, path: "/api/v1/stop", access: .role(.operator), id: "stop",
                summary: "Stop a workload: its source takes no new items.", body: .json(RequestSchemas.uuid, required: true),
                response: ref("Workload")),
            APIRoute(
                method: .get, path: "/api/v1/workload", access: .role(.viewer), id: "workloads",
                summary: "One workload (uuid), or a page of workloads (of a project).",
                query: [
                    QueryParameters.uuid, QueryParameters.project, QueryParameters.state, QueryParameters.label, QueryParameters.creator,
                    QueryParameters.sort,
                ]
                    + QueryParameters.page, response: array(of: "Workload"), paged: true),
            APIRoute(
                method: .get, path: "/api/v1/workload/:uuid", access: .role(.viewer), id: "workload", summary: "A workload.",
                response: ref("Workload")),
            APIRoute(
                method: .get, path: "/api/v1/workload/:uuid/workflows", access: .role(.viewer), id: "workflows",
                summary: "A page of the workload's workflows (newest attempts unless includeRetried).",
                query: [QueryParameters.status, QueryParameters.submission, QueryParameters.includeRetried] + QueryParameters.page,
                response: array(of: "Workflow"), paged: true),
            APIRoute(
                method: .get, path: "/api/v1/workflow/:uuid", access: .role(.viewer), id: "workflow",
                summary: "A workflow (any attempt), with its workload's uuid.", response: ref("WorkflowWithWorkload")),
            APIRoute(
                method: .get, path: "/api/v1/workload/:uuid/workflows/:workflow/logs", access: .role(.viewer), id: "logs",
                summary: "The tail of a workflow's stdout or stderr, or the bytes from an offset on; wherever its executor keeps them.",
                query: [QueryParameters.stream, QueryParameters.tail, QueryParameters.from], response: ["type": "string"],
                contentType: "text/plain",
                headers: [
                    "X-Log-Size": ["description": "The log's size in bytes (0 when there is none yet).", "schema": ["type": "integer"]],
                    "X-Log-Start": ["description": "The offset of the first byte answered.", "schema": ["type": "integer"]],
                    "X-Log-End": [
                        "description": "The offset just past the last byte answered: the next from.", "schema": ["type": "integer"],
                    ],
                    "X-Log-Truncated": ["description": "true when earlier lines or bytes were left out.", "schema": ["type": "boolean"]],
                ]),
            APIRoute(
                method: .get, path: "/api/v1/workload/:uuid/events", access: .role(.viewer), id: "events",
                summary: "A page of the workload's event log, with who caused each event.", query: QueryParameters.page,
                response: array(of: "Event"), paged: true),
            APIRoute(
                method: .post, path: "/api/v1/workload/:uuid/retry", access: .role(.operator), id: "retry",
                summary: "Relaunch the final workflows matching the filters as new attempts; answers the workload.",
                body: .json(RequestSchemas.retry, required: true), response: ref("RetriedWorkload")),
            APIRoute(
                method: .post, path: "/api/v1/workload/:uuid/abort", access: .role(.operator), id: "abort",
                summary: "Stop the workload and abort its workflows at the backend.", response: ref("Workload")),
            APIRoute(
                method: .post, path: "/api/v1/workload/:uuid/redeliver", access: .role(.operator), id: "redeliver",
                summary: "Put set-aside deliveries back in the sink's queue.", body: .json(RequestSchemas.redeliver, required: false),
                response: ref("Workload")),
            APIRoute(
                method: .get, path: "/api/v1/tokens", access: .role(.admin), id: "tokens",
                summary: "Every API token (never the token itself).", response: array(of: "Token")),
            APIRoute(
                method: .post, path: "/api/v1/tokens", access: .role(.admin), id: "createToken",
                summary: "Create an API token; the token is in this answer only.", body: .json(RequestSchemas.token, required: true),
                response: ref("CreatedToken")),
            APIRoute(
                method: .delete, path: "/api/v1/tokens/:name", access: .role(.admin), id: "revokeToken", summary: "Revoke a token.",
                response: ref("Token")),
        ]
    }

    static let timestamp: JSONValue = ["type": "string", "format": "date-time"]

    static var schemas: JSONObject {
        let counts: JSONObject = Dictionary(
            uniqueKeysWithValues: (WorkflowStatus.allCases.map(\.rawValue) + ["total"]).map {
                ($0, ["type": "integer", "minimum": 0] as JSONValue)
            })
        let workload: JSONObject = [
            "type": "object",
            "required": ["uuid", "project", "creator", "version", "labels", "source", "executor", "sink", "state", "created", "workflows"],
            "properties": [
                "uuid": ["type": "string", "format": "uuid"], "project": ["type": "string"], "creator": ["type": "string"],
                "version": ["type": "string"], "labels": ["type": "array", "items": ["type": "string"]],
                "watchers": ["type": "array"], "source": ["type": "object"], "executor": ["type": "object"], "sink": ["type": "object"],
                "state": ["type": "string"], "created": timestamp, "started": timestamp, "stopped": timestamp, "aborted": timestamp,
                "finished": timestamp, "updated": timestamp,
                "workflows": ["type": "object", "properties": .object(counts)],
                "lastError": ["type": "object"], "quarantined": timestamp,
            ],
        ]
        var retried = workload
        if case .object(var properties) = workload["properties"] {
            properties["retried"] = array(of: "Workflow")
            retried["properties"] = .object(properties)
        }
        return [
            "Error": [
                "type": "object", "required": ["message"],
                "properties": [
                    "message": ["type": "string"], "details": ["description": "What went wrong; for bad input, the field."],
                    "requestId": ["type": "string"],
                ],
            ],
            "Status": ["type": "object", "required": ["status"], "properties": ["status": ["type": "string"]]],
            "Version": [
                "type": "object", "required": ["name", "version"],
                "properties": [
                    "name": ["type": "string"], "version": ["type": "string"],
                    "commit": ["type": "string", "description": "The git commit built (with -dirty for uncommitted changes)."],
                    "committed": ["type": "string", "description": "When that commit was made."],
                    "built": ["type": "string", "description": "When the binary was built."],
                    "user": ["type": "string", "description": "Who built it."],
                ],
            ],
            "Health": [
                "type": "object", "required": ["status", "database"],
                "properties": [
                    "status": ["type": "string", "enum": ["OK", "unavailable"]], "database": ["type": "string"],
                    "updateLoop": ["type": "object"], "problems": ["type": "array", "items": ["type": "string"]],
                    "message": ["type": "string"],
                ],
            ],
            "StageType": [
                "type": "object", "required": ["kind", "name", "fields"],
                "properties": [
                    "kind": ["type": "string", "enum": ["source", "executor", "sink"]], "name": ["type": "string"],
                    "description": ["type": "string"], "fields": ["type": "array", "items": ["type": "object"]],
                ],
            ],
            "Workload": .object(workload),
            "RetriedWorkload": .object(retried),
            "Workflow": [
                "type": "object", "required": ["uuid", "status", "attempt", "inputs", "created", "updated"],
                "properties": [
                    "uuid": ["type": "string", "format": "uuid"],
                    "status": ["type": "string", "enum": .array(WorkflowStatus.allCases.map { .string($0.rawValue) })],
                    "attempt": ["type": "integer", "minimum": 1], "externalId": ["type": "string"], "submission": ["type": "string"],
                    "inputs": ["type": "object"], "outputs": ["type": "object"], "details": ["type": "object"],
                    "overrides": ["type": "object"],
                    "error": [
                        "type": "object", "required": ["message", "kind"],
                        "properties": [
                            "message": ["type": "string"], "kind": ["type": "string", "enum": ["workflow", "infrastructure"]],
                        ],
                    ],
                    "retryOf": ["type": "string", "format": "uuid"], "retriedBy": ["type": "string", "format": "uuid"],
                    "created": timestamp, "submitted": timestamp, "updated": timestamp, "finished": timestamp,
                    "delivered": ["type": "boolean"], "deliveryError": ["type": "string"],
                ],
            ],
            "WorkflowWithWorkload": [
                "allOf": [
                    ref("Workflow"),
                    ["type": "object", "required": ["workload"], "properties": ["workload": ["type": "string", "format": "uuid"]]],
                ]
            ],
            "Event": [
                "type": "object", "required": ["at", "kind", "message"],
                "properties": [
                    "at": timestamp, "kind": ["type": "string"], "message": ["type": "string"], "data": [:],
                    "by": ["type": "string", "description": "Who made the request that caused it; absent for the update loop's own."],
                ],
            ],
            "Token": [
                "type": "object", "required": ["name", "role", "created", "createdBy"],
                "properties": [
                    "name": ["type": "string"], "role": ["type": "string", "enum": ["viewer", "operator", "admin"]], "created": timestamp,
                    "createdBy": ["type": "string"], "expires": timestamp, "revoked": timestamp,
                ],
            ],
            "CreatedToken": [
                "allOf": [
                    ref("Token"),
                    ["type": "object", "required": ["token"], "properties": ["token": ["type": "string", "pattern": "^wfl_"]]],
                ]
            ],
        ]
    }

    /// The OpenAPI 3.1 document.
    static func document(_ registry: StageRegistry, version: String) -> JSONValue {
        var paths: JSONObject = [:]
        let error: JSONValue = ["application/json": ["schema": ref("Error")]]
        let requestID: JSONObject = ["X-Request-Id": ["description": "Quote it when reporting a problem.", "schema": ["type": "string"]]]
        for route in routes(registry) {
            let openPath =
                "/"
                + route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                .joined(separator: "/")
            var operation: JSONObject = ["operationId": .string(route.id), "summary": .string(route.summary)]
            var parameters: [JSONValue] = route.path.split(separator: "/").filter { $0.hasPrefix(":") }.map { segment in
                let name = String(segment.dropFirst())
                let schema: JSONValue =
                    name == "uuid" || name == "workflow"
                    ? ["type": "string", "format": "uuid"] : .object(APITokens.nameConstraint.schema(for: ["type": "string"]))
                return ["name": .string(name), "in": "path", "required": true, "schema": schema]
            }
            parameters += route.query.map {
                ["name": .string($0.name), "in": "query", "schema": $0.schema, "description": .string($0.summary)]
            }
            if !parameters.isEmpty { operation["parameters"] = .array(parameters) }
            if case .json(let schema, let required) = route.body {
                operation["requestBody"] = ["required": .bool(required), "content": ["application/json": ["schema": schema]]]
            }
            var headers = requestID.merging(route.headers) { a, _ in a }
            if route.paged {
                headers["X-Next-Cursor"] = ["description": "The cursor of the next page, when there is one.", "schema": ["type": "string"]]
                headers["Link"] = ["description": "<…&cursor=…>; rel=\"next\", when there is a next page.", "schema": ["type": "string"]]
            }
            let content: JSONObject = [route.contentType: ["schema": route.response]]
            var responses: JSONObject = ["200": ["description": "OK", "headers": .object(headers), "content": .object(content)]]
            func add(_ code: String, _ text: String) {
                responses[code] = ["description": .string(text), "headers": .object(requestID), "content": error]
            }
            if route.id == "health" {
                responses["503"] = ["description": "Unhealthy", "content": ["application/json": ["schema": ref("Health")]]]
            } else if route.access != .open {
                add("503", "The database or a backend is unreachable.")
            }
            if route.access != .open {
                add("400", "Bad input; details.field names it.")
                responses["401"] = [
                    "description": "No or bad credentials (authentication on).", "content": error,
                    "headers": .object(requestID.merging(["WWW-Authenticate": ["schema": ["type": "string"]]]) { a, _ in a }),
                ]
                add("403", "The caller's role does not allow it; details.needed names the role.")
            }
            if route.access != .open && route.access != .metrics && route.id != "stages" && route.id != "tokens" {
                add(
                    "404",
                    route.id == "logs"
                        ? "No such workload or workflow, or its executor keeps no logs (details.link says where they are)."
                        : "No such workload (or token).")
                if route.id == "logs" { add("409", "The log is a symbolic link or not a regular file: it is not read.") }
            }
            if case .json = route.body { add("413", "The body is larger than the server accepts.") }
            if route.id == "createToken" || route.id == "create" || route.id == "exec" { add("409", "A conflict with the current state.") }
            add("405", "A known path with another method; Allow lists the methods.")
            add("500", "A fault of the server; the request id finds it in the log.")
            if route.id == "create" || route.id == "exec" {
                // How a client (and schemathesis's stateful phase) gets from a new workload to the rest.
                var links: JSONObject = [:]
                for target in ["workload", "workflows", "events", "retry", "abort", "redeliver"] {
                    links["\(target)"] = ["operationId": .string(target), "parameters": ["uuid": "$response.body#/uuid"]]
                }
                var ok = responses["200"]?.objectValue ?? [:]
                ok["links"] = .object(links)
                responses["200"] = .object(ok)
            }
            operation["responses"] = .object(responses)
            switch route.access {
            case .open: operation["security"] = []
            case .metrics: operation["security"] = [[:], ["bearer": []]]
            case .role(let role): operation["x-wfl-role"] = .string(role.rawValue)
            }
            var methods = paths[openPath]?.objectValue ?? [:]
            methods[route.method.rawValue.lowercased()] = .object(operation)
            paths[openPath] = .object(methods)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "Workflow Launcher", "version": .string(version),
                "description":
                    "WFL's API paths and shapes. With `wfl serve --auth` every operation but the open ones needs `Authorization: Bearer <API token or OIDC JWT>`; x-wfl-role names the least role each needs (viewer < operator < admin).",
            ],
            "paths": .object(paths),
            "components": [
                "schemas": .object(schemas),
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "description": "An API token (wfl_…) or an OIDC JWT."]],
            ],
            "security": [["bearer": []]],
        ]
    }
}
