import Foundation

/// Every environment variable the launcher reads, in one place: its name, what it means,
/// and a typed accessor. Components read settings through this (never `ProcessInfo`
/// directly), so the list below is the whole configuration surface and tests can pass their
/// own values.
public struct Settings: Sendable {
    public enum Key: String, CaseIterable, Sendable {
        case home = "WFL_HOME"
        case databaseURL = "WFL_DATABASE_URL"
        case databaseTimeout = "WFL_DB_TIMEOUT_SECONDS"
        case logLevel = "WFL_LOG_LEVEL"
        case logFormat = "WFL_LOG_FORMAT"
        case creator = "WFL_CREATOR"
        case allowedRoots = "WFL_ALLOWED_ROOTS"
        case trustedProxies = "WFL_TRUSTED_PROXIES"
        case secretsDir = "WFL_SECRETS_DIR"
        case secretVariables = "WFL_SECRET_VARIABLES"
        case outboundAllow = "WFL_OUTBOUND_ALLOW"
        case outboundDeny = "WFL_OUTBOUND_DENY"
        case pgBin = "WFL_PG_BIN"
        case pgOSUser = "WFL_PG_OS_USER"
        case firecloudURL = "WFL_FIRECLOUD_URL"
        case rawlsURL = "WFL_RAWLS_URL"
        case tdrURL = "WFL_TDR_URL"
        case bigqueryURL = "WFL_BIGQUERY_URL"
        case terraTimeout = "WFL_TERRA_TIMEOUT_SECONDS"
        case googleCredentials = "GOOGLE_APPLICATION_CREDENTIALS"
        case googleToken = "WFL_GOOGLE_TOKEN"
        case googleTokenURL = "WFL_GOOGLE_TOKEN_URL"
        case fault = "WFL_FAULT"
        case xdgDataHome = "XDG_DATA_HOME"
        case user = "USER"
        case path = "PATH"

        /// What the setting means, as the README's configuration table says it.
        public var summary: String {
            switch self {
            case .home: "The data folder: the embedded database and default work folders."
            case .databaseURL: "PostgreSQL URL; unset: the embedded database in $WFL_HOME."
            case .databaseTimeout: "Time limit of each database call, in seconds (1 to 600; default 30)."
            case .logLevel: "trace … critical."
            case .logFormat: "text, or json (one object per line)."
            case .creator: "The creator the CLI records on workloads."
            case .allowedRoots: "Folders (separated by :) that configurations may point into; unset: anywhere."
            case .secretsDir:
                "A folder of named secrets (one file each) that configurations may name; NAME.hosts lists where NAME may be sent."
            case .secretVariables: "Environment variables (separated by ,) that a WES executor's tokenEnv may name; unset: none."
            case .outboundAllow: "Hosts (separated by ,) that request-chosen URLs may reach; unset: any host not denied."
            case .outboundDeny: "More hosts or IPv4 prefixes (separated by ,) that request-chosen URLs may not reach."
            case .trustedProxies: "Addresses (separated by ,) of proxies whose X-Forwarded-Email names the creator; unset: none."
            case .pgBin: "The folder holding initdb, pg_ctl and postgres, for the embedded database."
            case .pgOSUser: "The user the embedded PostgreSQL runs as when wfl runs as root."
            case .firecloudURL, .rawlsURL, .tdrURL, .bigqueryURL: "A Terra service's base URL."
            case .terraTimeout: "Time limit of each Terra request, in seconds (1 to 3600)."
            case .googleCredentials: "A Google service-account key file for the Terra stages."
            case .googleToken: "A static Google access token (development)."
            case .googleTokenURL: "Google's token endpoint (tests)."
            case .fault: "Tests only: a crash point (after-submit)."
            case .xdgDataHome, .user, .path: "Read from the system as usual."
            }
        }
    }

    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The process's own environment.
    public static var process: Settings { Settings() }

    /// The setting, when set and not empty.
    public subscript(_ key: Key) -> String? {
        guard let value = values[key.rawValue], !value.isEmpty else { return nil }
        return value
    }

    /// A number of seconds within `range`; `fallback` when unset or out of range.
    public func seconds(_ key: Key, default fallback: Double, range: ClosedRange<Double>) -> Double {
        guard let value = self[key].flatMap(Double.init), range.contains(value) else { return fallback }
        return value
    }

    /// A base URL without trailing slashes.
    public func url(_ key: Key, default fallback: String) -> String {
        var value = self[key] ?? fallback
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }

    /// `WFL_ALLOWED_ROOTS` as a list; nil when unset.
    public var allowedRoots: [String]? {
        let roots = self[.allowedRoots]?.split(separator: ":").map(String.init).filter { !$0.isEmpty } ?? []
        return roots.isEmpty ? nil : roots
    }

    /// `WFL_TRUSTED_PROXIES` as a list.
    public var trustedProxies: [String] { list(.trustedProxies) }

    /// A comma-separated list setting.
    public func list(_ key: Key) -> [String] {
        self[key]?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
    }

    /// The same settings with some replaced (tests).
    public func merging(_ overrides: [String: String]) -> Settings {
        Settings(values.merging(overrides) { _, new in new })
    }
}
