import Foundation

/// What a caller may do. Each role includes the ones before it: a viewer reads, an operator
/// also creates and drives workloads, an admin also manages tokens and may create workloads
/// whose executor runs code on the launcher's own host.
public enum Role: String, CaseIterable, Sendable, Comparable, Codable {
    case viewer, `operator`, admin

    public static func < (a: Role, b: Role) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The role named by `text` (case-insensitive), or a 400 naming `field`.
    public static func parse(_ text: String, field: String) throws -> Role {
        guard let role = Role(rawValue: text.lowercased()) else {
            throw LauncherError.invalid(
                field, "unknown role \"\(Constraint.excerpt(text))\"; use \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return role
    }
}

/// Who is asking, and with which role: an API token's name, an OIDC identity's e-mail, the
/// local user of the CLI (who holds the database's credentials, so is an admin), or, with
/// authentication off, an anonymous caller who may do everything (local single-user use).
public struct Principal: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case token, oidc, local, anonymous }

    public var name: String
    public var role: Role?
    public var kind: Kind

    public init(name: String, role: Role?, kind: Kind) {
        self.name = name
        self.role = role
        self.kind = kind
    }

    /// The CLI working on the database directly.
    public static func local(_ name: String) -> Principal { Principal(name: name, role: .admin, kind: .local) }
    /// Authentication off: everything is allowed, as before authentication existed.
    public static let anonymous = Principal(name: "anonymous", role: .admin, kind: .anonymous)

    public var description: String { "\(name) (\(role?.rawValue ?? "no role"))" }

    /// Throws a 403 naming the role `action` needs, unless this principal has it.
    public func require(_ needed: Role, to action: String) throws {
        guard let role, role >= needed else {
            throw LauncherError(
                .forbidden,
                "\(needed.rawValue) role required to \(action); \(name) has \(role.map { "the \($0.rawValue) role" } ?? "no role")",
                details: ["needed": .string(needed.rawValue), "role": role.map { .string($0.rawValue) } ?? .null])
        }
    }
}

/// Which executors each role may create workloads with. By default operators may use every
/// executor except those that run code on the launcher's own host (`Local`, `Container`),
/// which only admins may use; `WFL_OPERATOR_EXECUTORS` replaces that list for a deployment.
public struct AccessPolicy: Sendable {
    /// Executors an operator may create workloads with; nil: every executor but `hostExecutors`.
    public var operatorExecutors: Set<String>?
    public static let hostExecutors: Set<String> = ["Local", "Container"]

    public init(operatorExecutors: Set<String>? = nil) {
        self.operatorExecutors = operatorExecutors
    }

    public init(settings: Settings) {
        let listed = settings.list(.operatorExecutors)
        self.init(operatorExecutors: listed.isEmpty ? nil : Set(listed))
    }

    /// The least role that may create a workload with `executor`.
    public func roleNeeded(forExecutor executor: String) -> Role {
        if let operatorExecutors { return operatorExecutors.contains(executor) ? .operator : .admin }
        return Self.hostExecutors.contains(executor) ? .admin : .operator
    }
}

extension Role: ConfigValue {
    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> Role {
        guard case .string(let text) = json else { throw path.invalid("expected a role name, got \(json.typeName)") }
        return try Role.parse(text, field: path.text)
    }
    public var configJSON: JSONValue { .string(rawValue) }
    public static var typeSchema: JSONObject { ["type": "string", "enum": .array(allCases.map { .string($0.rawValue) })] }
    public static var typeName: String { "role" }
}

/// A token request (`POST /api/v1/tokens`, `wfl token create`).
public struct TokenRequest: ConfigStruct {
    public var name = ""
    public var role = Role.viewer
    public var expires: String?

    public init() {}

    public static let fields: [Field<TokenRequest>] = [
        Field("name", \.name, APITokens.nameConstraint, required: true, "The token's name: what lists and revocation use."),
        Field("role", \.role, required: true, "viewer, operator or admin."),
        Field("expires", \.expires, .text(max: 20), "Its lifetime: 30d, 12h, 90m (default: never expires)."),
    ]
}
