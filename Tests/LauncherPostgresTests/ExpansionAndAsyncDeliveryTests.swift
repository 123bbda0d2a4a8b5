import Foundation
import LauncherCore
import LauncherPostgres
import LauncherTestSupport
import Testing

@Suite struct ExpansionAndAsyncDeliveryTests {
    @Test func anItemExpandsIntoSeveralWorkflowsWhoseIdsArriveLater() async throws {
        try await TestLauncher.with(registry: TestStages.registry) { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(
                    source: ["name": "Items", "items": [["rows": 3], ["rows": 2], ["rows": 0]]],
                    executor: ["name": "Expanding"]),
                start: true)
            _ = try await launcher.updater.update(workloadID: view.record.id)
            let launched = try await launcher.allWorkflows(view.record.uuid)
            #expect(launched.count == 5, "3 + 2 workflows; the empty item yields none")
            #expect(Set(launched.compactMap(\.submission)).count == 2)
            #expect(launched.allSatisfy { $0.externalID == nil && $0.status == .queued && $0.details["entity"] != nil })
            let done = try await launcher.runUntilFinished(view.record.uuid)
            #expect(done.counts == [.succeeded: 5])
            #expect(try await launcher.allWorkflows(view.record.uuid).allSatisfy { $0.externalID?.hasPrefix("wf-") == true })
            // Every item was consumed, each expansion linked to its item.
            #expect(try await launcher.database.scalar("SELECT count(*) FROM source_item WHERE consumed IS NULL") == 0)
            #expect(try await launcher.database.scalar("SELECT count(DISTINCT source_item_id) FROM workflow") == 2)
        }
    }

    @Test func aDeliveryThatFinishesLaterKeepsTheWorkloadOpenUntilItIsDone() async throws {
        try await TestLauncher.with(registry: TestStages.registry) { launcher in
            let view = try await launcher.service.create(
                TestLauncher.request(source: TestLauncher.items(3), executor: ["name": "Mock"], sink: ["name": "Slow"]),
                start: true)
            _ = try await launcher.updater.update(workloadID: view.record.id)
            let started = try await launcher.allWorkflows(view.record.uuid)
            #expect(started.allSatisfy { $0.status == .succeeded && $0.consumed == nil })
            #expect(try await launcher.database.scalar("SELECT count(*) FROM workflow WHERE delivery IS NOT NULL") == 3)
            #expect(try await launcher.service.workload(view.record.uuid).record.finished == nil)
            let done = try await launcher.runUntilFinished(view.record.uuid)
            #expect(done.counts == [.succeeded: 3])
            #expect(try await launcher.allWorkflows(view.record.uuid).allSatisfy { $0.consumed != nil && $0.json["delivered"] == true })
            #expect(try await launcher.service.events(view.record.uuid, cursor: nil, limit: 100).items.contains { $0.kind == "delivered" })
        }
    }
}
