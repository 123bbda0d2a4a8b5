import Foundation
import LauncherCore
import LauncherStageSupport

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
}

/// A data-repository id (dataset or snapshot): a UUID, stored in lower case.
struct DataRepoID: ConfigValue, Hashable {
    let id: String

    static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws -> DataRepoID {
        guard case .string(let text) = json, text.utf8.count <= 64, UUID(uuidString: text) != nil else {
            throw path.invalid(
                "expected an id (a UUID), got \(json.isNumber || json.stringValue != nil ? Constraint.excerpt(json.description, max: 64) : json.typeName)"
            )
        }
        return DataRepoID(id: text.lowercased())
    }

    var configJSON: JSONValue { .string(id) }
    static var typeSchema: JSONObject { ["type": "string", "format": "uuid"] }
    static var typeName: String { "string" }
}
