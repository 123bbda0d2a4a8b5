import LauncherCore
import LauncherPostgres
import LauncherStoreContract
import LauncherTestSupport
import Testing

/// The store contract against `PostgresStore`, each scenario over a fresh, migrated database
/// (the same scenarios MemoryStoreContractTests runs in memory).
@Suite struct PostgresStoreContractTests {
    static let contract = StoreContract(knownDifferences: [:]) { body in
        try await TestDatabase.with { database, _ in
            try await body(PostgresStore(database: database, logger: TestDatabase.logger))
        }
    }

    @Test(arguments: StoreScenario.allCases)
    func contract(_ scenario: StoreScenario) async throws {
        try await Self.contract.run(scenario)
    }
}
