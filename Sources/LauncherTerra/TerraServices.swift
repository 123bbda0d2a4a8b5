import Foundation
import LauncherCore
import LauncherStageSupport
import NIOCore

/// The Terra family's services: their base URLs (from the environment; defaults: production),
/// and one `BackendClient` per service carrying a Google access token. 5xx, 429 and timeouts
/// are retried as `RetryPolicy.backendCalls` says before `unavailable`; 4xx is `refused`.
struct TerraServices: Sendable {
    let firecloud: String
    let rawls: String
    let tdr: String
    let bigquery: String
    let settings: Settings
    /// Time limit of each request (`WFL_TERRA_TIMEOUT_SECONDS`, default 30).
    let timeout: TimeAmount

    init(_ environment: LauncherEnvironment) {
        let settings = environment.settings
        firecloud = settings.url(.firecloudURL, default: "https://api.firecloud.org")
        rawls = settings.url(.rawlsURL, default: "https://rawls.dsde-prod.broadinstitute.org")
        tdr = settings.url(.tdrURL, default: "https://data.terra.bio")
        bigquery = settings.url(.bigqueryURL, default: "https://bigquery.googleapis.com")
        self.settings = settings
        timeout = .milliseconds(Int64(settings.seconds(.terraTimeout, default: 30, range: 1...3600) * 1000))
    }

    /// Calls to one of the services (named in messages), authorised with the process's token.
    func client(_ service: String) -> BackendClient {
        let settings = self.settings
        return BackendClient(service: service, timeout: timeout, retry: .backendCalls, messageKeys: ["message"]) {
            do {
                return [("Authorization", "Bearer \(try await GoogleAuth.shared.token(settings: settings))")]
            } catch let failure as GoogleAuth.Failure {
                throw BackendError.unavailable(service: service, reason: failure.description)
            }
        }
    }

    /// A failed create-time check as the launcher's own 400, in WFL's words ("Cannot access
    /// workspace") plus the resource's name and what to do; never the upstream body. An
    /// unreachable service is 503.
    static func createError(_ error: any Error, field: String, what: String, name: String) -> LauncherError {
        let resource = "\(what) \(name)"
        switch error {
        case BackendError.refused(let service, let status, _) where status == 401 || status == 403:
            return .invalid(
                field,
                "Cannot access \(resource): \(service) answered HTTP \(status); "
                    + "grant the launcher's service account access to it", ["upstreamStatus": .int(Int64(status))])
        case BackendError.refused(let service, 404, _):
            return .invalid(
                field,
                "Cannot access \(resource): it does not exist, or the launcher's service account cannot see it "
                    + "(\(service) answered HTTP 404)", ["upstreamStatus": 404])
        case BackendError.refused(let service, let status, _):
            return .invalid(
                field, "Cannot access \(resource): \(service) refused the request (HTTP \(status))",
                ["upstreamStatus": .int(Int64(status))])
        case let error as LauncherError:
            return error
        default:
            return LauncherError(.unavailable, "could not check \(resource): \(error)", details: ["field": .string(field)])
        }
    }
}

/// A Terra workspace or method configuration: `namespace/name`.
struct NamespacedName: ConfigValue, Hashable, CustomStringConvertible {
    var namespace: String
    var name: String
    var description: String { "\(namespace)/\(name)" }
    /// `namespace/name`, each part percent-encoded, for URL paths.
    var path: String { "\(BackendClient.escape(namespace))/\(BackendClient.escape(name))" }

    init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> NamespacedName {
        let value = try String.read(json, .text(max: 512, nonBlank: true), at: path, context)
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, parts.allSatisfy({ $0.wholeMatch(of: /[A-Za-z0-9 _-]+/) != nil }) else {
            throw path.invalid("\"\(Constraint.excerpt(value))\" is not \"namespace/name\" (letters, digits, spaces, _ and -)")
        }
        return NamespacedName(namespace: parts[0], name: parts[1])
    }

    var configJSON: JSONValue { .string(description) }
    static var typeSchema: JSONObject { ["type": "string", "pattern": "^[A-Za-z0-9 _-]+/[A-Za-z0-9 _-]+$"] }
    static var typeName: String { "string" }
}
