import LauncherCore

extension StageRegistry {
    /// Every stage type this build of the launcher ships.
    public static var builtin: StageRegistry {
        var registry = StageRegistry()
        registry.register(source: ItemsSource.type)
        registry.register(source: TDRSnapshotsSource.type)
        registry.register(source: TerraDataRepoSource.type)
        registry.register(executor: MockExecutor.type)
        registry.register(executor: LocalExecutor.type)
        registry.register(executor: SlurmExecutor.type)
        registry.register(executor: ContainerExecutor.type)
        registry.register(executor: WESExecutor.type)
        registry.register(executor: TerraExecutor.type)
        registry.register(sink: DirectorySink.type)
        registry.register(sink: NoneSink.type)
        registry.register(sink: TerraWorkspaceSink.type)
        registry.register(sink: TerraDataRepoSink.type)
        return registry
    }
}

extension StageRegistry {
    public static var builtinCatalog: [JSONValue] { builtin.catalog }
}
