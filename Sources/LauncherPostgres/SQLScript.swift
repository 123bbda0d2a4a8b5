import Foundation

/// Splits a SQL script into statements at top-level semicolons, respecting 'strings',
/// "identifiers", $tag$ dollar quotes $tag$, -- line comments and /* block comments */.
/// (postgres-nio speaks only the extended protocol, which takes one statement at a time.)
enum SQLScript {
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        let chars = Array(script)
        var i = 0
        func peek(_ offset: Int) -> Character? { i + offset < chars.count ? chars[i + offset] : nil }
        while i < chars.count {
            let c = chars[i]
            if c == "-" && peek(1) == "-" {
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/" && peek(1) == "*" {
                var depth = 0
                repeat {
                    if chars[i] == "/" && peek(1) == "*" {
                        depth += 1
                        i += 2
                        continue
                    }
                    if chars[i] == "*" && peek(1) == "/" {
                        depth -= 1
                        i += 2
                        continue
                    }
                    i += 1
                } while i < chars.count && depth > 0
                current.append(" ")
                continue
            }
            if c == "'" || c == "\"" {
                current.append(c)
                i += 1
                while i < chars.count {
                    current.append(chars[i])
                    if chars[i] == c {
                        if peek(1) == c {
                            i += 1
                            current.append(chars[i])
                        } else {
                            break
                        }
                    }
                    i += 1
                }
                i += 1
                continue
            }
            if c == "$", let tag = dollarTag(chars, at: i) {
                current += tag
                i += tag.count
                while i < chars.count {
                    if chars[i] == "$" && String(chars[i..<min(i + tag.count, chars.count)]) == tag {
                        current += tag
                        i += tag.count
                        break
                    }
                    current.append(chars[i])
                    i += 1
                }
                continue
            }
            if c == ";" {
                append(&statements, current)
                current = ""
            } else {
                current.append(c)
            }
            i += 1
        }
        append(&statements, current)
        return statements
    }

    private static func append(_ statements: inout [String], _ statement: String) {
        let trimmed = statement.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { statements.append(trimmed) }
    }

    /// `$$` or `$tag$` starting at `index`, else nil (e.g. a `$1` parameter).
    private static func dollarTag(_ chars: [Character], at index: Int) -> String? {
        var j = index + 1
        while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" {
            if j == index + 1 && chars[j].isNumber { return nil }
            j += 1
        }
        guard j < chars.count, chars[j] == "$" else { return nil }
        return String(chars[index...j])
    }
}
