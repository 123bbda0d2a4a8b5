/// One item's inputs: an object of free-form values, as a source item or a workflow carries
/// them. Checked without re-encoding (the Items source may hold a million of them): it must be
/// an object, and no string or key may hold a NUL character, which PostgreSQL cannot store.
public struct WorkflowInputs: ConfigValue {
    public var inputs: JSONObject

    public init(_ inputs: JSONObject) { self.inputs = inputs }

    public static func read(_ json: JSONValue, _ constraint: Constraint, at path: FieldPath, _ context: ConfigContext) throws
        -> WorkflowInputs
    {
        guard case .object(let inputs) = json else { throw path.invalid("expected an object of inputs, got \(json.typeName)") }
        // The cheap scan first; the path (which costs a string per key) only for the error.
        if json.containsNUL, let place = json.firstNUL(at: path) {
            throw place.invalid("must not contain a NUL character (\\u0000): PostgreSQL cannot store it")
        }
        return WorkflowInputs(inputs)
    }

    public var configJSON: JSONValue { .object(inputs) }
    public static var typeSchema: JSONObject { ["type": "object"] }
    public static var typeName: String { "object" }
}

extension JSONValue {
    /// Where the first NUL character is (a string, or a key), if any.
    public func firstNUL(at path: FieldPath) -> FieldPath? {
        switch self {
        case .string(let s): return s.utf8.contains(0) ? path : nil
        case .array(let a):
            for (index, element) in a.enumerated() { if let found = element.firstNUL(at: path.index(index)) { return found } }
            return nil
        case .object(let o):
            for (key, value) in o {
                if key.utf8.contains(0) { return path }
                if let found = value.firstNUL(at: path.key(key)) { return found }
            }
            return nil
        default: return nil
        }
    }
}
