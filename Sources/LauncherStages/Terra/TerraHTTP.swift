import AsyncHTTPClient
import Foundation
import LauncherCore
import NIOCore
import NIOHTTP1

/// Base URLs of the Terra family's services, from the environment (defaults: production).
struct TerraServices: Sendable {
    let firecloud: String
    let rawls: String
    let tdr: String
    let bigquery: String
    let settings: [String: String]
    /// Time limit of each request (`WFL_TERRA_TIMEOUT_SECONDS`, default 30).
    let timeout: TimeAmount

    init(_ environment: LauncherEnvironment) {
        func url(_ name: String, _ fallback: String) -> String {
            var value = environment.settings[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
            while value.hasSuffix("/") { value.removeLast() }
            return value
        }
        firecloud = url("WFL_FIRECLOUD_URL", "https://api.firecloud.org")
        rawls = url("WFL_RAWLS_URL", "https://rawls.dsde-prod.broadinstitute.org")
        tdr = url("WFL_TDR_URL", "https://data.terra.bio")
        bigquery = url("WFL_BIGQUERY_URL", "https://bigquery.googleapis.com")
        settings = environment.settings
        let seconds = environment.settings["WFL_TERRA_TIMEOUT_SECONDS"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 30
        timeout = .milliseconds(Int64(seconds * 1000))
    }

    /// One request answered with any status, for replies that carry an error (a failed job's result).
    func send(_ method: HTTPMethod, _ url: String) async throws -> (status: UInt, body: JSONValue) {
        try await TerraHTTP.send(method, url: url, body: nil, settings: settings, timeout: timeout)
    }

    func call(_ method: HTTPMethod, _ service: String, _ url: String, body: JSONValue? = nil) async throws -> JSONValue {
        try await TerraHTTP.call(method, service: service, url: url, body: body, settings: settings, timeout: timeout)
    }
}

/// JSON over HTTPS with a Google access token. 5xx, 429 and timeouts are retried (three tries
/// with backoff) before `Unavailable`; 4xx is `Refused`, never retried.
enum TerraHTTP {
    /// One client for the process; connection attempts are not retried until the deadline.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Refused: Error, CustomStringConvertible {
        let status: UInt
        let service: String
        /// The reply's `message`, shortened; used in workflow errors, never in create-time errors.
        var message: String? = nil
        var description: String { "\(service) answered HTTP \(status)" + (message.map { ": \($0)" } ?? "") }
    }

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    static func call(_ method: HTTPMethod, service: String, url: String, body: JSONValue?, settings: [String: String],
                     timeout: TimeAmount = .seconds(30), attempts: Int = 3) async throws -> JSONValue {
        var lastProblem = ""
        for attempt in 1...attempts {
            do {
                let (status, reply) = try await send(method, url: url, body: body, settings: settings, timeout: timeout)
                if (200..<300).contains(status) { return reply }
                if (400..<500).contains(status) && status != 408 && status != 429 {
                    throw Refused(status: status, service: service, message: reply["message"]?.stringValue.map { String($0.prefix(300)) })
                }
                lastProblem = "\(service) answered HTTP \(status)"
            } catch let error as Refused {
                throw error
            } catch let error as GoogleAuth.Failure {
                throw Unavailable(description: error.description)
            } catch {
                lastProblem = "\(service) did not answer: \(error)"
            }
            if attempt < attempts { try await Task.sleep(for: .milliseconds(250 << attempt)) }
        }
        throw Unavailable(description: "\(lastProblem) (after \(attempts) tries)")
    }

    /// One request, whatever the status: the reply parsed as JSON (a string if it is not).
    static func send(_ method: HTTPMethod, url: String, body: JSONValue?, settings: [String: String],
                     timeout: TimeAmount) async throws -> (status: UInt, body: JSONValue) {
        let token = try await GoogleAuth.shared.token(settings: settings)
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.description))
        }
        let response = try await http.execute(request, timeout: timeout)
        let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        return (response.status.code, text.isEmpty ? .null : ((try? JSONValue.parse(text)) ?? .string(text)))
    }

    /// A failed create-time check as the launcher's own 400, in WFL's words ("Cannot access
    /// workspace") plus the resource's name and what to do; never the upstream body. An
    /// unreachable service is 503.
    static func createError(_ error: any Error, field: String, what: String, name: String) -> LauncherError {
        let resource = "\(what) \(name)"
        switch error {
        case let refused as Refused where refused.status == 401 || refused.status == 403:
            return .invalid(field, "Cannot access \(resource): \(refused.service) answered HTTP \(refused.status); "
                            + "grant the launcher's service account access to it", ["upstreamStatus": .int(Int64(refused.status))])
        case let refused as Refused where refused.status == 404:
            return .invalid(field, "Cannot access \(resource): it does not exist, or the launcher's service account cannot see it "
                            + "(\(refused.service) answered HTTP 404)", ["upstreamStatus": 404])
        case let refused as Refused:
            return .invalid(field, "Cannot access \(resource): \(refused.service) refused the request (HTTP \(refused.status))",
                            ["upstreamStatus": .int(Int64(refused.status))])
        case let error as LauncherError:
            return error
        default:
            return LauncherError(.unavailable, "could not check \(resource): \(error)", details: ["field": .string(field)])
        }
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

/// A Terra workspace or method configuration: `namespace/name`.
struct NamespacedName: ConfigValue, Hashable, CustomStringConvertible {
    var namespace: String
    var name: String
    var description: String { "\(namespace)/\(name)" }

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> NamespacedName {
        let value = try String.read(json, .text(max: 512, nonBlank: true), at: path, context)
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, parts.allSatisfy({ $0.wholeMatch(of: /[A-Za-z0-9 _-]+/) != nil }) else {
            throw path.invalid("\"\(Constraint.excerpt(value))\" is not \"namespace/name\" (letters, digits, spaces, _ and -)")
        }
        return NamespacedName(namespace: parts[0], name: parts[1])
    }

    init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    var configJSON: JSONValue { .string(description) }
    static var typeSchema: JSONObject { ["type": "string", "pattern": "^[A-Za-z0-9 _-]+/[A-Za-z0-9 _-]+$"] }
    static var typeName: String { "string" }
    /// `namespace/name`, each part percent-encoded, for URL paths.
    var path: String { "\(TerraHTTP.escape(namespace))/\(TerraHTTP.escape(name))" }
}
