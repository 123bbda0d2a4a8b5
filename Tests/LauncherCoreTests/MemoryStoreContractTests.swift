import LauncherCore
import LauncherStoreContract
import Testing

/// The store contract against `MemoryStore`: the fast tier (each scenario in milliseconds).
@Suite struct MemoryStoreContractTests {
    static let contract = StoreContract { body in try await body(MemoryStore()) }

    @Test(arguments: StoreScenario.allCases)
    func contract(_ scenario: StoreScenario) async throws {
        try await Self.contract.run(scenario)
    }
}
