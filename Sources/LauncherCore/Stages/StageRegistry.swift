import Foundation

/// One configuration field a stage type takes, as `wfl stages` and `GET /api/v1/stages` list it.
public struct ConfigField: Sendable {
    public var name: String
    public var type: String
    public var required: Bool
    public var summary: String

    public init(_ name: String, _ type: String, required: Bool = false, _ summary: String) {
        self.name = name
        self.type = type
        self.required = required
        self.summary = summary
    }

    public var json: JSONValue {
        ["name": .string(name), "type": .string(type), "required": .bool(required), "description": .string(summary)]
    }
}

/// A stage implementation registered under its user-facing type name (`"Mock"`, `"SLURM"`).
public struct StageType<Instance: Sendable>: Sendable {
    public var name: String
    public var summary: String
    public var fields: [ConfigField]
    /// Builds the stage from its configuration; throws `LauncherError.invalid` naming the field.
    public var make: @Sendable (ConfigReader) throws -> Instance

    public init(name: String, summary: String, fields: [ConfigField], make: @escaping @Sendable (ConfigReader) throws -> Instance) {
        self.name = name
        self.summary = summary
        self.fields = fields
        self.make = make
    }

    func info(kind: StageKind) -> JSONValue {
        ["kind": .string(kind.rawValue), "name": .string(name), "description": .string(summary),
         "fields": .array(fields.map(\.json))]
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

    public func makeSource(_ config: JSONValue?, origin: ConfigOrigin = .request) throws -> any Source {
        try Self.make(config, kind: .source, types: sources, origin: origin)
    }

    public func makeExecutor(_ config: JSONValue?, origin: ConfigOrigin = .request) throws -> any Executor {
        try Self.make(config, kind: .executor, types: executors, origin: origin)
    }

    public func makeSink(_ config: JSONValue?, origin: ConfigOrigin = .request) throws -> any Sink {
        try Self.make(config, kind: .sink, types: sinks, origin: origin)
    }

    /// Every registered type with its fields, sources first.
    public var catalog: [JSONValue] {
        sources.values.sorted { $0.name < $1.name }.map { $0.info(kind: .source) }
            + executors.values.sorted { $0.name < $1.name }.map { $0.info(kind: .executor) }
            + sinks.values.sorted { $0.name < $1.name }.map { $0.info(kind: .sink) }
    }

    private static func make<Instance>(
        _ config: JSONValue?, kind: StageKind, types: [String: StageType<Instance>], origin: ConfigOrigin
    ) throws -> Instance {
        let field = kind.rawValue
        let known = types.keys.sorted()
        let knownDetail: JSONObject = ["known": .array(known.map(JSONValue.string))]
        let knownText = "known \(field)s: \(known.joined(separator: ", "))"
        guard let config, !config.isNull else {
            throw LauncherError.invalid(field, "required; \(knownText)", knownDetail)
        }
        guard let object = config.objectValue else {
            throw LauncherError.invalid(field, "expected an object with a \"name\", got \(config.typeName)", knownDetail)
        }
        guard let nameValue = object["name"], !nameValue.isNull else {
            throw LauncherError.invalid("\(field).name", "required; \(knownText)", knownDetail)
        }
        guard let name = nameValue.stringValue else {
            throw LauncherError.invalid("\(field).name", "expected a string, got \(nameValue.typeName)", knownDetail)
        }
        guard let type = types[name] else {
            throw LauncherError.invalid("\(field).name", "unknown \(field) \"\(name)\"; \(knownText)", knownDetail)
        }
        let reader = ConfigReader(object, path: field, origin: origin)
        if origin == .request {
            try reader.rejectUnknown(allowed: type.fields.map(\.name), stageDescription: "the \(name) \(field)")
        }
        return try type.make(reader)
    }
}
