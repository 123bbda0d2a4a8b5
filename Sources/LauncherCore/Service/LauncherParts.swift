import Logging

/// The launcher's parts over one store, built in one place: the `wfl` executable, the
/// benchmarks and the tests all get their service layer and updater from here, so they are
/// wired the same way.
public struct LauncherParts: Sendable {
    public let store: any LauncherStore
    public let registry: StageRegistry
    public let environment: LauncherEnvironment
    public let updater: Updater
    public let service: WorkloadService

    public init(
        store: any LauncherStore, registry: StageRegistry, environment: LauncherEnvironment,
        options: UpdaterOptions = UpdaterOptions(), logger: Logger
    ) {
        self.store = store
        self.registry = registry
        self.environment = environment
        updater = Updater(store: store, registry: registry, environment: environment, options: options, logger: logger)
        service = WorkloadService(store: store, registry: registry, environment: environment, updater: updater, logger: logger)
    }
}
