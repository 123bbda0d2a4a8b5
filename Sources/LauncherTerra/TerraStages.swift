import LauncherCore

/// The Terra family's stage types, registered under WFL's names.
public enum TerraStages {
    public static func register(in registry: inout StageRegistry) {
        registry.register(source: TDRSnapshotsSource.type)
        registry.register(source: TerraDataRepoSource.type)
        registry.register(executor: TerraExecutor.type)
        registry.register(sink: TerraWorkspaceSink.type)
        registry.register(sink: TerraDataRepoSink.type)
    }
}
