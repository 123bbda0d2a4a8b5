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
        case server = "WFL_SERVER"
        case token = "WFL_TOKEN"
        case allowedRoots = "WFL_ALLOWED_ROOTS"
        case trustedProxies = "WFL_TRUSTED_PROXIES"
        case auth = "WFL_AUTH"
        case operatorExecutors = "WFL_OPERATOR_EXECUTORS"
        case metricsPublic = "WFL_METRICS_PUBLIC"
        case oidcJWKS = "WFL_OIDC_JWKS"
        case oidcIssuer = "WFL_OIDC_ISSUER"
        case oidcAudience = "WFL_OIDC_AUDIENCE"
        case oidcRoles = "WFL_OIDC_ROLES"
        case oidcGroupsClaim = "WFL_OIDC_GROUPS_CLAIM"
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
        case slackToken = "WFL_SLACK_TOKEN"
        case slackTokenFile = "WFL_SLACK_TOKEN_FILE"
        case slackAPI = "WFL_SLACK_API"
        case smtpServer = "WFL_SMTP_SERVER"
        case mailFrom = "WFL_MAIL_FROM"
        case webhookSecretFile = "WFL_WEBHOOK_SECRET_FILE"
        case publicURL = "WFL_PUBLIC_URL"
        case notifyAttempts = "WFL_NOTIFY_ATTEMPTS"
        case notifyRetrySeconds = "WFL_NOTIFY_RETRY_SECONDS"
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
            case .server: "The CLI: a wfl serve to run operator commands on over HTTP, instead of the database."
            case .token: "The CLI, with WFL_SERVER: the bearer token (API token or OIDC JWT) its requests carry."
            case .allowedRoots: "Folders (separated by :) that configurations may point into; unset: anywhere."
            case .secretsDir:
                "A folder of named secrets (one file each) that configurations may name; NAME.hosts lists where NAME may be sent."
            case .secretVariables: "Environment variables (separated by ,) that a WES executor's tokenEnv may name; unset: none."
            case .outboundAllow: "Hosts (separated by ,) that request-chosen URLs may reach; unset: any host not denied."
            case .outboundDeny: "More hosts or IPv4 prefixes (separated by ,) that request-chosen URLs may not reach."
            case .trustedProxies: "Addresses (separated by ,) of proxies whose X-Forwarded-Email names the creator; unset: none."
            case .auth: "1: wfl serve requires credentials (API tokens or OIDC JWTs); required off loopback."
            case .operatorExecutors:
                "Executors (separated by ,) operators may create workloads with; unset: all but Local and Container (admins only)."
            case .metricsPublic: "1: /metrics answers without credentials when authentication is on."
            case .oidcJWKS: "OIDC: the JSON Web Key Set that signs accepted JWTs: a file, or an https URL (fetched, cached an hour)."
            case .oidcIssuer: "OIDC: the issuer (iss) accepted JWTs must carry."
            case .oidcAudience: "OIDC: the audience (aud) accepted JWTs must carry."
            case .oidcRoles:
                "OIDC: roles by identity, e.g. admin=ada@example.org;operator=@example.org,group:wfl-ops;viewer=*."
            case .oidcGroupsClaim: "OIDC: the claim listing a JWT's groups (default groups)."
            case .pgBin: "The folder holding initdb, pg_ctl and postgres, for the embedded database."
            case .pgOSUser: "The user the embedded PostgreSQL runs as when wfl runs as root."
            case .firecloudURL, .rawlsURL, .tdrURL, .bigqueryURL: "A Terra service's base URL."
            case .terraTimeout: "Time limit of each Terra request, in seconds (1 to 3600)."
            case .googleCredentials: "A Google service-account key file for the Terra stages."
            case .googleToken: "A static Google access token (development)."
            case .googleTokenURL: "Google's token endpoint (tests)."
            case .slackToken: "Notifications: the Slack bot token (xoxb-…) that posts to slack watchers' channels."
            case .slackTokenFile: "Notifications: a file holding the Slack bot token (preferred to WFL_SLACK_TOKEN)."
            case .slackAPI: "Notifications: Slack's Web API base URL (default https://slack.com/api; tests)."
            case .smtpServer: "Notifications: the SMTP relay (host or host:port) e-mail watchers are sent through."
            case .mailFrom: "Notifications: the sender of e-mail notifications (default wfl@<host name>)."
            case .webhookSecretFile: "Notifications: a file holding the key webhook bodies are signed with (X-WFL-Signature)."
            case .notifyAttempts: "Notifications: attempts before one is given up (1 to 100; default 8)."
            case .notifyRetrySeconds:
                "Notifications: seconds before the first retry, doubling up to an hour (0.1 to 3600; default 30)."
            case .publicURL: "The dashboard's address as people reach it, for links in notifications."
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

    /// A yes/no setting: 1, true, yes or on.
    public func flag(_ key: Key) -> Bool {
        guard let value = self[key]?.lowercased() else { return false }
        return ["1", "true", "yes", "on"].contains(value)
    }

    /// `WFL_TRUSTED_PROXIES` as a list.
    public var trustedProxies: [String] { list(.trustedProxies) }

    /// A comma-separated list setting.
    public func list(_ key: Key) -> [String] {
        self[key]?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
    }

    /// The launcher's environment as jobs it submits may see it: without its own settings
    /// (`WFL_*`: the database URL, tokens), PostgreSQL's (`PG*`), cloud credentials, and the
    /// variables the operator listed as secrets. `sbatch` hands the environment it runs in to
    /// the job, so an operator's command must not find the database's credentials there.
    public static func forJobs(_ environment: [String: String]) -> [String: String] {
        let secrets = Set(Settings(environment).list(.secretVariables))
        let prefixes = ["WFL_", "PG", "AWS_", "AZURE_", "GOOGLE_", "CLOUDSDK_"]
        return environment.filter { name, _ in !secrets.contains(name) && !prefixes.contains { name.hasPrefix($0) } }
    }

    /// The same settings with some replaced (tests).
    public func merging(_ overrides: [String: String]) -> Settings {
        Settings(values.merging(overrides) { _, new in new })
    }
}
