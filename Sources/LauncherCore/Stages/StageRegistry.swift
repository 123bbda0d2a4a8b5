import Foundation

/// A stage implementation registered under its user-facing type name (`"Mock"`, `"SLURM"`),
/// built from its configuration type: the catalog and the request schema come from the
/// configuration's declared fields.
public struct StageType<Instance: Sendable>: Sendable {
    public let name: String
    public let summary: String
    /// The fields a request may carry, as `wfl stages` lists them.
    public let fields: [JSONValue]
    /// The JSON Schema of the stage's request form, `name` included.
    public let requestSchema: JSONValue
    let make: @Sendable (JSONObject, FieldPath, ConfigContext, String) throws -> Instance

    public init<Config: StageConfig>(_ config: Config.Type, make: @escaping @Sendable (Config) throws -> Instance) {
        name = Config.stageName
        summary = Config.summary
        fields = Config.catalogFields
        requestSchema = Config.jsonSchema(
            extra: ["name": ["const": .string(Config.stageName), "description": "The stage type."]],
            required: ["name"])
        self.make = { object, path, context, what in
            try make(Config.decode(object, at: path, context: context, what: what, reserved: ["name"]))
        }
    }

    func info(kind: StageKind) -> JSONValue {
        ["kind": .string(kind.rawValue), "name": .string(name), "description": .string(summary), "fields": .array(fields)]
    }
}

/// Every stage type the launcher knows, keyed by kind and name. Built once at start-up.
public struct StageRegistry: Sendable {
    public private(set) var sources: [String: StageType<any Source>] = [:]
    public private(set) var executors: [String: StageType<any Executor>] = [:]
    public private(set) var sinks: [String: StageType<any Sink>] = [:]

    public init() {}

    public mutating func register(source type: StageType<any Source>) {
        precondition(sources[type.name] == nil, "source type \(type.name) registered twice")
        sources[type.name] = type
    }

    public mutating func register(executor type: StageType<any Executor>) {
        precondition(executors[type.name] == nil, "executor type \(type.name) registered twice")
        executors[type.name] = type
    }

    public mutating func register(sink type: StageType<any Sink>) {
        precondition(sinks[type.name] == nil, "sink type \(type.name) registered twice")
        sinks[type.name] = type
    }

    public func makeSource(_ config: JSONValue?, context: ConfigContext = .request) throws -> any Source {
        try Self.make(config, kind: .source, types: sources, context: context)
    }

    public func makeExecutor(_ config: JSONValue?, context: ConfigContext = .request) throws -> any Executor {
        try Self.make(config, kind: .executor, types: executors, context: context)
    }

    public func makeSink(_ config: JSONValue?, context: ConfigContext = .request) throws -> any Sink {
        try Self.make(config, kind: .sink, types: sinks, context: context)
    }

    /// Every registered type with its fields, sources first.
    public var catalog: [JSONValue] {
        sources.values.sorted { $0.name < $1.name }.map { $0.info(kind: .source) }
            + executors.values.sorted { $0.name < $1.name }.map { $0.info(kind: .executor) }
            + sinks.values.sorted { $0.name < $1.name }.map { $0.info(kind: .sink) }
    }

    /// The JSON Schema of each kind's request form: one of the registered types.
    public func requestSchema(_ kind: StageKind) -> JSONValue {
        let schemas: [JSONValue] =
            switch kind {
            case .source: sources.values.sorted { $0.name < $1.name }.map(\.requestSchema)
            case .executor: executors.values.sorted { $0.name < $1.name }.map(\.requestSchema)
            case .sink: sinks.values.sorted { $0.name < $1.name }.map(\.requestSchema)
            }
        return ["oneOf": .array(schemas)]
    }

    private static func make<Instance>(
        _ config: JSONValue?, kind: StageKind, types: [String: StageType<Instance>], context: ConfigContext
    ) throws -> Instance {
        let field = FieldPath(kind.rawValue)
        let known = types.keys.sorted()
        let knownDetail: JSONObject = ["known": .array(known.map(JSONValue.string))]
        let knownText = "known \(kind.rawValue)s: \(known.joined(separator: ", "))"
        guard let config, !config.isNull else {
            throw field.invalid("required; \(knownText)", knownDetail)
        }
        guard let object = config.objectValue else {
            throw field.invalid("expected an object with a \"name\", got \(config.typeName)", knownDetail)
        }
        guard let nameValue = object["name"], !nameValue.isNull else {
            throw field.key("name").invalid("required; \(knownText)", knownDetail)
        }
        guard let name = nameValue.stringValue else {
            throw field.key("name").invalid("expected a string, got \(nameValue.typeName)", knownDetail)
        }
        guard let type = types[name] else {
            throw field.key("name").invalid("unknown \(kind.rawValue) \"\(Constraint.excerpt(name))\"; \(knownText)", knownDetail)
        }
        return try type.make(object, field, context, "the \(name) \(kind.rawValue)")
    }
}
