import LauncherCore

/// WFL's `fromOutputs` rules, mapping a workflow's outputs onto entity attributes or dataset
/// columns: `"$text"` is the literal `text`; any other string names an output; an array is the
/// list of the outputs it names (missing ones dropped); an object maps recursively. Attributes
/// whose output is missing are left out.
enum FromOutputs {
    static func gather(_ spec: JSONObject, outputs: JSONObject) -> JSONObject {
        var result: JSONObject = [:]
        for (name, rule) in spec {
            if let value = value(rule, outputs: outputs) { result[name] = value }
        }
        return result
    }

    static func value(_ rule: JSONValue, outputs: JSONObject) -> JSONValue? {
        switch rule {
        case .string(let text) where text.hasPrefix("$"):
            return .string(String(text.dropFirst()))
        case .string(let name):
            guard let output = outputs[name], !output.isNull else { return nil }
            return output
        case .array(let rules):
            return .array(rules.compactMap { value($0, outputs: outputs) })
        case .object(let object):
            return .object(gather(object, outputs: outputs))
        default:
            return rule
        }
    }

    /// Checks the shape: an object whose values are strings, arrays or objects of those.
    static func read(_ reader: ConfigReader, _ key: String, what: String) throws -> JSONObject {
        guard let spec = try reader.object(key) else {
            throw LauncherError.invalid(reader.path(key), "required: fromOutputs must define a mapping from workflow outputs to \(what)")
        }
        return spec
    }
}
