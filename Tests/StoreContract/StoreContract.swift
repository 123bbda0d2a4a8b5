import LauncherCore

/// Scenarios every `LauncherStore` must pass (filled in by the store-contract work).
public enum StoreContract {}
