import Foundation

/// How file-system paths in configurations are read: absolute only (a relative path is
/// resolved only where the caller gave a base folder, as the local CLI does with its working
/// folder), normalised, and confined to the roots the operator allows (`WFL_ALLOWED_ROOTS`).
/// Symbolic links are resolved before the check, so a link cannot lead outside a root.
public struct FilePolicy: Sendable {
    /// Folders paths must lie in; nil: anywhere.
    public var allowedRoots: [String]?
    /// Folder relative paths are resolved against; nil: relative paths are refused.
    public var relativeBase: String?

    public init(allowedRoots: [String]? = nil, relativeBase: String? = nil) {
        self.allowedRoots = allowedRoots.map { $0.map { Self.real(Self.normalised($0)) } }
        self.relativeBase = relativeBase
    }

    /// The path to use, or a 400 naming the field.
    public func resolve(_ text: String, at path: FieldPath) throws -> String {
        var absolute = text
        if !text.hasPrefix("/") {
            guard let relativeBase, !text.hasPrefix("~") else {
                throw path.invalid("\"\(Constraint.excerpt(text))\" is not an absolute path; give the full path (e.g. /data/results)")
            }
            absolute = relativeBase + "/" + text
        }
        let normal = Self.normalised(absolute)
        guard let roots = allowedRoots else { return normal }
        let real = Self.real(normal)
        if roots.contains(where: { Self.contains($0, real) }) { return normal }
        throw path.invalid(
            "\(Constraint.excerpt(normal)) is outside the folders this launcher may use (\(roots.joined(separator: ", ")))",
            ["allowedRoots": .array(roots.map(JSONValue.string))])
    }

    /// `/a/./b/../c` → `/a/c`, without touching the file system.
    public static func normalised(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The path with symbolic links resolved in its longest existing prefix.
    static func real(_ path: String) -> String {
        var head = path
        var tail: [String] = []
        while head != "/" {
            if let resolved = realpath(head, nil) {
                defer { free(resolved) }
                let base = String(cString: resolved)
                return tail.isEmpty ? base : normalised(base + "/" + tail.reversed().joined(separator: "/"))
            }
            let url = URL(fileURLWithPath: head)
            tail.append(url.lastPathComponent)
            head = url.deletingLastPathComponent().path
        }
        return path
    }

    public static func contains(_ root: String, _ path: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }
}
