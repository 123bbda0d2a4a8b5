import Foundation
import LauncherCore

/// Secrets a configuration may use, as the operator allowed them: named secrets (files in
/// `WFL_SECRETS_DIR`, optionally bound to hosts by `NAME.hosts`), and environment variables
/// listed in `WFL_SECRET_VARIABLES`. A request names a secret; it never chooses a path or a
/// variable the operator did not allow, so it cannot read what the launcher can read.
package struct Secrets: Sendable {
    let settings: Settings

    package init(_ settings: Settings) { self.settings = settings }

    /// A secret as a configuration refers to it.
    package enum Reference: Sendable, Equatable {
        case named(String)
        case variable(String)
        case file(String)
    }

    /// The reason a configuration may not use `reference` to reach `host`; nil when it may.
    package func problem(_ reference: Reference, host: String?) -> String? {
        switch reference {
        case .named(let name):
            guard let folder = settings[.secretsDir] else {
                return "this launcher has no named secrets (its operator sets WFL_SECRETS_DIR)"
            }
            guard Self.validName(name), FileManager.default.isReadableFile(atPath: "\(folder)/\(name)") else {
                return "no secret named \"\(Constraint.excerpt(name, max: 64))\" (the operator's secrets are the files in WFL_SECRETS_DIR)"
            }
            if let host, let hosts = allowedHosts(name), !hosts.contains(host.lowercased()) {
                return "secret \(name) may only be sent to \(hosts.sorted().joined(separator: ", ")), not \(host)"
            }
            return nil
        case .variable(let name):
            guard settings.list(.secretVariables).contains(name) else {
                return "\(name) is not a variable this launcher lets configurations name (its operator lists them in WFL_SECRET_VARIABLES)"
            }
            return settings.values[name].map { $0.isEmpty ? "the launcher's environment has no variable \(name)" : nil }
                ?? "the launcher's environment has no variable \(name)"
        case .file(let path):
            guard let folder = settings[.secretsDir], FilePolicy.contains(FilePolicy.normalised(folder), FilePolicy.normalised(path)) else {
                return "\(Constraint.excerpt(path)) is not in the secrets folder (WFL_SECRETS_DIR); name a secret with tokenSecret instead"
            }
            return FileManager.default.isReadableFile(atPath: path) ? nil : "cannot read \(path)"
        }
    }

    /// The secret's value, read at each use so it can rotate.
    package func value(_ reference: Reference) throws -> String {
        let text: String?
        switch reference {
        case .named(let name):
            text =
                Self.validName(name)
                ? settings[.secretsDir].flatMap { FileManager.default.contents(atPath: "\($0)/\(name)") }
                    .map { String(decoding: $0, as: UTF8.self) } : nil
        case .variable(let name):
            text = settings.list(.secretVariables).contains(name) ? settings.values[name] : nil
        case .file(let path):
            text =
                problem(.file(path), host: nil) == nil
                ? FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } : nil
        }
        guard let value = text?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            throw BackendError.unavailable(
                service: "the launcher", reason: "the secret is not available: \(problem(reference, host: nil) ?? "it is empty")")
        }
        return value
    }

    private func allowedHosts(_ name: String) -> Set<String>? {
        guard let folder = settings[.secretsDir], let data = FileManager.default.contents(atPath: "\(folder)/\(name).hosts") else {
            return nil
        }
        return Set(
            String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty && !$0.hasPrefix("#") })
    }

    static func validName(_ name: String) -> Bool {
        name.utf8.count <= 128 && name.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9._-]*/) != nil && !name.hasSuffix(".hosts")
    }
}
