import Foundation

/// The JSON Schemas of the request bodies, from the same field declarations that decode them:
/// what the OpenAPI document publishes is what the service checks.
public enum RequestSchemas {
    /// A workload request, with each stage as one of the registered types.
    public static func workload(_ registry: StageRegistry) -> JSONValue {
        guard case .object(var schema) = WorkloadRequest.jsonSchema(), case .object(var properties) = schema["properties"] else {
            return WorkloadRequest.jsonSchema()
        }
        for kind in [StageKind.source, .executor, .sink] {
            var stage = registry.requestSchema(kind).objectValue ?? [:]
            stage["description"] = properties[kind.rawValue]?["description"] ?? .null
            properties[kind.rawValue] = .object(stage.compacted)
        }
        schema["properties"] = .object(properties)
        schema["required"] = ["project", "source", "executor", "sink"]
        return .object(schema)
    }

    public static var retry: JSONValue { RetryRequest.jsonSchema() }
    public static var redeliver: JSONValue { RedeliverRequest.jsonSchema() }
    public static var token: JSONValue { TokenRequest.jsonSchema() }
    public static var uuid: JSONValue {
        [
            "type": "object", "required": ["uuid"], "additionalProperties": true,
            "properties": ["uuid": ["type": "string", "format": "uuid", "description": "The workload's UUID."]],
        ]
    }
}
