import Foundation
import LauncherCore

/// `/docs`: the OpenAPI document as a page the server renders itself (no CDN, no script):
/// each operation with its role, parameters, body schema and answers.
enum APIDocs {
    static func html(_ document: JSONValue) -> String {
        var out = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Workflow Launcher API</title>
            <style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
            h2{margin-top:2.2rem;border-top:1px solid #ddd;padding-top:1rem}code,pre{font:13px ui-monospace,monospace}
            pre{background:#f6f6f6;padding:.6rem;overflow:auto;max-height:24rem}.m{display:inline-block;min-width:4.5rem;font-weight:600}
            .role{color:#555;font-size:13px}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}</style>
            </head><body><h1>Workflow Launcher API</h1>
            """
        out += "<p>\(escape(document["info"]?["description"]?.stringValue ?? ""))</p>"
        out +=
            "<p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI \(escape(document["openapi"]?.stringValue ?? "")))</p>"
        let paths = document["paths"]?.objectValue ?? [:]
        for path in paths.keys.sorted() {
            for (method, operation) in (paths[path]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                let role = operation["x-wfl-role"]?.stringValue ?? (operation["security"] == [] ? "open" : "viewer")
                out += "<h2><span class=\"m\">\(method.uppercased())</span><code>\(escape(path))</code></h2>"
                out += "<p>\(escape(operation["summary"]?.stringValue ?? "")) <span class=\"role\">Role: \(escape(role)).</span></p>"
                if let parameters = operation["parameters"]?.arrayValue, !parameters.isEmpty {
                    out += "<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>"
                    for p in parameters {
                        out +=
                            "<tr><td><code>\(escape(p["name"]?.stringValue ?? ""))</code></td><td>\(escape(p["in"]?.stringValue ?? ""))</td>"
                        out +=
                            "<td><code>\(escape(p["schema"]?.description ?? ""))</code></td><td>\(escape(p["description"]?.stringValue ?? ""))</td></tr>"
                    }
                    out += "</table>"
                }
                if let body = operation["requestBody"]?["content"]?["application/json"]?["schema"] {
                    out += "<details><summary>Request body</summary><pre>\(escape(body.serialized(pretty: true)))</pre></details>"
                }
                let codes = (operation["responses"]?.objectValue ?? [:]).keys.sorted().joined(separator: ", ")
                out += "<p>Answers: \(escape(codes)).</p>"
            }
        }
        out += "<h2>Schemas</h2>"
        for (name, schema) in (document["components"]?["schemas"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            out += "<h3 id=\"\(escape(name))\">\(escape(name))</h3><pre>\(escape(schema.serialized(pretty: true)))</pre>"
        }
        return out + "</body></html>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
