import Foundation
import LauncherCore
import LauncherStageSupport

/// `{"name": "Terra Workspace", "workspace": "ns/name", "entityType": "…", "identifier": "…", "fromOutputs": {…}}`
///
/// Writes each succeeded workflow's outputs to an entity of the workspace: its name is the
/// `identifier` output (or input), its attributes come from `fromOutputs`. Every workflow
/// delivered in a tick goes in one `batchUpsert`; the entity is overwritten, so a repeated
/// delivery is harmless. A workflow without the identifier is set aside with its error.
struct TerraWorkspaceSink: Sink, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Terra Workspace"
        static let summary = "Upserts one entity per succeeded workflow into a Terra workspace table, attributes mapped from the outputs."

        var workspace = NamespacedName(namespace: "", name: "")
        var entityType = ""
        var identifier = ""
        var fromOutputs: JSONObject = [:]

        static let fields: [Field<Config>] = [
            Field("workspace", \.workspace, required: true, "The Terra workspace, \"namespace/name\"."),
            Field(
                "entityType", \.entityType, .text(max: 256, nonBlank: true), required: true,
                "The entity type (table) to write; it must exist."),
            Field(
                "identifier", \.identifier, .text(max: 256, nonBlank: true), required: true,
                "The output (or, failing that, input) whose value names the entity."),
            Field(
                "fromOutputs", \.fromOutputs, .freeForm(), required: true,
                ifMissing: "fromOutputs must define a mapping from workflow outputs to the attributes of entityType",
                "attribute → output name, \"$literal\", a list of those, or a nested object; attributes must exist."),
        ]
    }

    static let type = StageType<any Sink>(Config.self) { TerraWorkspaceSink(config: $0) }

    let config: Config
    var workspace: NamespacedName { config.workspace }
    var entityType: String { config.entityType }
    var identifier: String { config.identifier }
    var fromOutputs: JSONObject { config.fromOutputs }

    func validateRemotely(_ context: StageContext) async throws {
        let firecloud = Firecloud(services: TerraServices(context.environment), workspace: workspace)
        let types: [String: TerraEntityType]
        do {
            try await firecloud.describe()
            types = try await firecloud.entityTypes()
        } catch {
            throw TerraServices.createError(error, field: "sink.workspace", what: "workspace", name: workspace.description)
        }
        guard let type = types[entityType] else {
            throw LauncherError.invalid(
                "sink.entityType",
                "The entityType was not found in workspace \(workspace): no \"\(entityType)\"; "
                    + "it has \(types.keys.sorted().joined(separator: ", "))",
                ["entityType": .string(entityType), "types": .array(types.keys.sorted().map(JSONValue.string))])
        }
        let attributes = Set(type.attributeNames ?? []).union(["\(entityType)_id"])
        let extra = fromOutputs.keys.filter { !attributes.contains($0) }.sorted()
        if !extra.isEmpty {
            throw LauncherError.invalid(
                "sink.fromOutputs",
                "Found additional attributes in fromOutputs that are not present in the entityType \(entityType): "
                    + "\(extra.joined(separator: ", ")); add them to the table first",
                [
                    "entityType": .string(entityType), "missing": .array(extra.map(JSONValue.string)),
                    "attributes": .array(attributes.sorted().map(JSONValue.string)),
                ])
        }
    }

    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] {
        var outcomes: [UUID: DeliveryOutcome] = [:]
        var entities: [(uuid: UUID, entity: JSONValue)] = []
        for workflow in workflows {
            guard let name = Self.entityName(workflow.outputs[identifier]) ?? Self.entityName(workflow.inputs[identifier]) else {
                outcomes[workflow.uuid] = .rejected(
                    "Entity name not found: sink.identifier \"\(identifier)\" is not in the workflow's outputs or inputs")
                continue
            }
            entities.append((workflow.uuid, entity(named: name, outputs: workflow.outputs)))
        }
        guard !entities.isEmpty else { return outcomes }
        let firecloud = Firecloud(services: TerraServices(context.environment), workspace: workspace)
        do {
            try await firecloud.batchUpsert(entities.map(\.entity))
            for (uuid, _) in entities { outcomes[uuid] = .delivered }
        } catch let error as BackendError where error.isRefused && entities.count > 1 {
            // One bad entity refuses the batch: upsert one by one to set aside only the bad ones.
            for (uuid, entity) in entities {
                outcomes[uuid] = await upsertOne(entity, firecloud: firecloud)
            }
        } catch let refused as BackendError where refused.isRefused {
            outcomes[entities[0].uuid] = .rejected("Rawls refused the entity: \(refused)")
        } catch {
            for (uuid, _) in entities { outcomes[uuid] = .retry("\(error)") }
        }
        return outcomes
    }

    private func upsertOne(_ entity: JSONValue, firecloud: Firecloud) async -> DeliveryOutcome {
        do {
            try await firecloud.batchUpsert([entity])
            return .delivered
        } catch let refused as BackendError where refused.isRefused {
            return .rejected("Rawls refused entity \(entity["name"]?.stringValue ?? ""): \(refused)")
        } catch {
            return .retry("\(error)")
        }
    }

    /// WFL's operations: overwrite each attribute; a list is rebuilt member by member.
    func entity(named name: String, outputs: JSONObject) -> JSONValue {
        var operations: [JSONValue] = []
        for (attribute, value) in FromOutputs.gather(fromOutputs, outputs: outputs).sorted(by: { $0.key < $1.key })
        where attribute != "\(entityType)_id" {
            operations.append(["op": "RemoveAttribute", "attributeName": .string(attribute)])
            if case .array(let members) = value {
                operations.append(["op": "CreateAttributeValueList", "attributeName": .string(attribute)])
                for member in members {
                    operations.append(["op": "AddListMember", "attributeListName": .string(attribute), "newMember": member])
                }
            } else {
                operations.append(["op": "AddUpdateAttribute", "attributeName": .string(attribute), "addUpdateAttribute": value])
            }
        }
        return ["entityType": .string(entityType), "name": .string(name), "operations": .array(operations)]
    }

    static func entityName(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)? where !text.isEmpty: text
        case .int(let number)?: String(number)
        default: nil
        }
    }
}
