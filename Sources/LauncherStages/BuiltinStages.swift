import LauncherCore
import LauncherStageSupport
import LauncherTerra

extension StageRegistry {
    /// Every stage type this build of the launcher ships.
    public static var builtin: StageRegistry {
        var registry = StageRegistry()
        registry.register(source: ItemsSource.type)
        registry.register(executor: MockExecutor.type)
        registry.register(executor: LocalExecutor.type)
        registry.register(executor: SlurmExecutor.type)
        registry.register(executor: ContainerExecutor.type)
        registry.register(executor: WESExecutor.type)
        registry.register(sink: DirectorySink.type)
        registry.register(sink: NoneSink.type)
        TerraStages.register(in: &registry)
        return registry
    }
}

extension StageRegistry {
    public static var builtinCatalog: [JSONValue] { builtin.catalog }
}
