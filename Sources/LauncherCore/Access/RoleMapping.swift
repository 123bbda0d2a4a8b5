import Foundation

/// Which role an OIDC identity gets, from `WFL_OIDC_ROLES`:
/// `admin=ada@example.org;operator=@example.org,group:wfl-ops;viewer=*` — for each role, the
/// e-mail addresses, `@domains`, `group:NAMES` (from the JWT's groups claim) or `*` (anyone
/// with a verified token) that have it. The highest role that matches wins; an identity that
/// matches none is authenticated but may do nothing (403).
public struct RoleMapping: Sendable, Equatable {
    public enum Match: Sendable, Equatable {
        case email(String), domain(String), group(String), anyone

        func matches(email: String?, groups: [String]) -> Bool {
            switch self {
            case .anyone: true
            case .email(let address): email?.lowercased() == address
            case .domain(let domain): email.map { $0.lowercased().hasSuffix("@" + domain) } ?? false
            case .group(let group): groups.contains(group)
            }
        }
    }

    public var rules: [(role: Role, match: Match)]

    public static func == (a: RoleMapping, b: RoleMapping) -> Bool {
        a.rules.map(\.role) == b.rules.map(\.role) && a.rules.map(\.match) == b.rules.map(\.match)
    }

    public init(rules: [(role: Role, match: Match)] = []) {
        self.rules = rules
    }

    public init(parsing text: String, setting: String = Settings.Key.oidcRoles.rawValue) throws {
        var rules: [(Role, Match)] = []
        for clause in text.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !clause.isEmpty {
            let parts = clause.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else {
                throw LauncherError.invalid(setting, "\"\(Constraint.excerpt(clause))\" is not ROLE=WHO,WHO")
            }
            let role = try Role.parse(parts[0], field: setting)
            for who in parts[1].split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !who.isEmpty {
                if who == "*" {
                    rules.append((role, .anyone))
                } else if who.hasPrefix("group:"), who.count > 6 {
                    rules.append((role, .group(String(who.dropFirst(6)))))
                } else if who.hasPrefix("@"), who.count > 1 {
                    rules.append((role, .domain(who.dropFirst().lowercased())))
                } else if who.contains("@"), !who.hasSuffix("@") {
                    rules.append((role, .email(who.lowercased())))
                } else {
                    throw LauncherError.invalid(setting, "\"\(Constraint.excerpt(who))\" is not an e-mail, an @domain, group:NAME or *")
                }
            }
        }
        self.rules = rules
    }

    /// The highest role the identity has; nil when no rule matches.
    public func role(email: String?, groups: [String]) -> Role? {
        rules.filter { $0.match.matches(email: email, groups: groups) }.map(\.role).max()
    }
}
