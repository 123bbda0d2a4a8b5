import Foundation

/// Checks on the parts of a workload request that are not stage configurations.
enum RequestValidation {
    static let topLevelFields = ["project", "labels", "watchers", "source", "executor", "sink"]

    static func project(_ value: JSONValue?) throws -> String {
        guard let value, !value.isNull else { throw LauncherError.invalid("project", "required") }
        guard let project = value.stringValue else {
            throw LauncherError.invalid("project", "expected a string, got \(value.typeName)")
        }
        let trimmed = project.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw LauncherError.invalid("project", "must not be blank") }
        return trimmed
    }

    /// `"name:value"`: the name starts with a letter, then letters, digits, `_` or `-`; the value
    /// is not blank; exactly one `:`. As WFL, `project:<project>` is added and the list sorted.
    static func labels(_ value: JSONValue?, project: String) throws -> [String] {
        var labels: [String] = []
        if let value, !value.isNull {
            guard let array = value.arrayValue else {
                throw LauncherError.invalid("labels", "expected an array of \"name:value\" strings, got \(value.typeName)")
            }
            for (index, element) in array.enumerated() {
                let field = "labels[\(index)]"
                guard let label = element.stringValue else {
                    throw LauncherError.invalid(field, "expected a \"name:value\" string, got \(element.typeName)")
                }
                if let problem = labelProblem(label) {
                    throw LauncherError.invalid(field, "\"\(label)\" \(problem)")
                }
                labels.append(label)
            }
        }
        labels.append("project:\(project)")
        return Array(Set(labels)).sorted()
    }

    static func labelProblem(_ label: String) -> String? {
        let parts = label.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "must have exactly one ':' between a name and a value" }
        let name = parts[0], value = parts[1]
        guard let first = name.unicodeScalars.first, CharacterSet.letters.contains(first), first.isASCII else {
            return "must have a name that starts with a letter"
        }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        guard name.unicodeScalars.allSatisfy(allowed.contains) else {
            return "has a name with characters other than letters, digits, '_' and '-'"
        }
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty else { return "must have a non-blank value" }
        return nil
    }

    /// `["slack", "C…channel", "#name"?]` or `["email", "someone@example.org"]`, as in WFL.
    static func watchers(_ value: JSONValue?) throws -> JSONValue {
        guard let value, !value.isNull else { return .array([]) }
        guard let array = value.arrayValue else {
            throw LauncherError.invalid("watchers", "expected an array of watchers such as [\"slack\", \"C0123ABC\"], got \(value.typeName)")
        }
        for (index, element) in array.enumerated() {
            let field = "watchers[\(index)]"
            guard let tuple = element.arrayValue, let kind = tuple.first?.stringValue,
                  tuple.allSatisfy({ $0.stringValue != nil }) else {
                throw LauncherError.invalid(field, "expected [\"slack\", channelId, \"#name\"?] or [\"email\", address]")
            }
            let values = tuple.compactMap(\.stringValue)
            switch kind {
            case "slack":
                guard values.count == 2 || values.count == 3, values[1].hasPrefix("C"),
                      values[1].count > 1, values[1].allSatisfy({ $0.isUppercase || $0.isNumber }) else {
                    throw LauncherError.invalid(field, "a slack watcher is [\"slack\", channelId starting with C, \"#name\"?]")
                }
            case "email":
                guard values.count == 2, values[1].wholeMatch(of: /[^@\s]+@[^@\s]+\.[^@\s]+/) != nil else {
                    throw LauncherError.invalid(field, "an email watcher is [\"email\", a valid address]")
                }
            default:
                throw LauncherError.invalid(field, "unknown watcher type \"\(kind)\"; known: slack, email")
            }
        }
        return value
    }

    static func uuid(_ text: String, field: String) throws -> UUID {
        guard let uuid = UUID(uuidString: text.trimmingCharacters(in: .whitespaces)) else {
            throw LauncherError.invalid(field, "\"\(text)\" is not a UUID")
        }
        return uuid
    }
}

/// Opaque pagination cursors: the id of the last row on the previous page, tagged by listing.
enum Cursor {
    static func encode(_ id: Int64, kind: String) -> String {
        Data("\(kind):\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String?, kind: String) throws -> Int64? {
        guard let cursor, !cursor.isEmpty else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
              text.hasPrefix("\(kind):"), let id = Int64(text.dropFirst(kind.count + 1)) else {
            throw LauncherError.invalid("cursor", "is not a cursor this listing returned")
        }
        return id
    }
}
