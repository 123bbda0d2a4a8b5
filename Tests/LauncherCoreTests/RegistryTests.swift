import Foundation
import Testing

@testable import LauncherCore

private struct Echo: Source, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Echo"
        static let summary = "test"
        var count = 0
        var label: String?
        static let fields: [Field<Config>] = [
            Field("count", \.count, .range(1...1000), required: true, "how many"),
            Field("label", \.label, "a label"),
        ]
    }
    struct Other: StageConfig {
        static let stageName = "Other"
        static let summary = "test"
        static let fields: [Field<Other>] = []
    }
    let config: Config
}

private struct Nothing: Sink, ConfiguredStage {
    struct Config: StageConfig {
        static let stageName = "Nothing"
        static let summary = "test"
        static let fields: [Field<Config>] = []
    }
    let config = Config()
    func deliver(_ workflows: [DeliverableWorkflow], context: StageContext) async throws -> [UUID: DeliveryOutcome] { [:] }
}

@Suite struct RegistryTests {
    var registry: StageRegistry {
        var registry = StageRegistry()
        registry.register(source: StageType(Echo.Config.self) { Echo(config: $0) })
        registry.register(source: StageType(Echo.Other.self) { _ in Echo(config: Echo.Config()) })
        registry.register(sink: StageType(Nothing.Config.self) { _ in Nothing() })
        return registry
    }

    func error(_ body: () throws -> Void) -> LauncherError? {
        do { try body() } catch let error as LauncherError { return error } catch { return nil }
        return nil
    }

    @Test func unknownNameListsTheKnownNamesOfThatKind() {
        let e = error { _ = try registry.makeSource(["name": "Nope"]) }
        #expect(e?.kind == .badRequest)
        #expect(e?.details["field"] == "source.name")
        #expect(e?.message.contains("known sources: Echo, Other") == true, "\(e?.message ?? "")")
        #expect(e?.details["known"] == ["Echo", "Other"])
        let sinkError = error { _ = try registry.makeSink(["name": "Echo"]) }
        #expect(sinkError?.message.contains("known sinks: Nothing") == true)
    }

    @Test func missingOrMistypedStageIsNamed() {
        #expect(error { _ = try registry.makeSource(nil) }?.details["field"] == "source")
        #expect(error { _ = try registry.makeSource("Echo") }?.message.contains("expected an object") == true)
        #expect(error { _ = try registry.makeSource(["count": 1]) }?.details["field"] == "source.name")
        #expect(error { _ = try registry.makeSource(["name": 7]) }?.message.contains("expected a string") == true)
    }

    @Test func unknownFieldsAreRejectedListingTheKnownOnes() {
        let e = error { _ = try registry.makeSource(["name": "Echo", "count": 1, "colour": "red"]) }
        #expect(e?.details["field"] == "source.colour")
        #expect(e?.message.contains("known fields: count, label") == true, "\(e?.message ?? "")")
    }

    @Test func typedFieldErrorsNameTheField() {
        let e = error { _ = try registry.makeSource(["name": "Echo", "count": "three"]) }
        #expect(e?.details["field"] == "source.count")
        #expect(e?.message == "source.count: expected a whole number, got a string")
        let low = error { _ = try registry.makeSource(["name": "Echo", "count": 0]) }
        #expect(low?.message == "source.count: must be at least 1, got 0")
    }

    @Test func storedConfigsSkipTheUnknownFieldCheck() throws {
        _ = try registry.makeSource(["name": "Echo", "count": 2, "internal": true], context: .stored)
    }

    @Test func catalogListsEveryTypeWithFields() {
        let catalog = registry.catalog
        #expect(catalog.count == 3)
        #expect(catalog[0]["name"] == "Echo")
        #expect(catalog[0]["fields"]?.arrayValue?.first?["required"] == true)
        #expect(catalog[2]["kind"] == "sink")
    }
}
