// swift-tools-version: 6.1
import PackageDescription

// The schema/NNNN_*.sql migrations ship inside the binary. Listed by name: SwiftPM caches the
// manifest, so a listing computed here would miss a new file (MigrationTests checks the list).
let migrations = [
    "0001_init.sql", "0002_async_delivery.sql", "0003_quarantine.sql", "0004_access.sql", "0005_dashboard.sql", "0006_notifications.sql",
    "0007_status_counts.sql",
]

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "WorkflowLauncher",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wfl", targets: ["wfl"])
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        .target(
            name: "LauncherCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                // SHA-256 of API tokens.
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: swiftSettings),
        // Running commands (posix_spawn, exits found by polling), detached spawns, file locks.
        .target(name: "LauncherSystem", swiftSettings: swiftSettings),
        // What every backend stage shares: the HTTP client, backend errors, retries, concurrency.
        .target(
            name: "LauncherStageSupport",
            dependencies: [
                "LauncherCore",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ], swiftSettings: swiftSettings),
        // The Terra family: two data-repository sources, the Terra executor, two sinks.
        .target(
            name: "LauncherTerra",
            dependencies: [
                "LauncherCore", "LauncherStageSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: swiftSettings),
        // The other stages (Items, Mock, Local, SLURM, Container, WES, Directory, None) and the
        // built-in registry.
        .target(
            name: "LauncherStages",
            dependencies: [
                "LauncherCore", "LauncherSystem", "LauncherStageSupport", "LauncherTerra",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ], swiftSettings: swiftSettings),
        // Notification channels (Slack's Web API, SMTP, signed webhooks) for the core's outbox.
        .target(
            name: "LauncherNotifications",
            dependencies: [
                "LauncherCore", "LauncherStageSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: swiftSettings),
        .target(name: "LauncherSchema", path: "schema", resources: migrations.map { .copy($0) }, swiftSettings: swiftSettings),
        .target(
            name: "LauncherPostgres",
            dependencies: [
                "LauncherCore", "LauncherSchema", "LauncherSystem",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ], swiftSettings: swiftSettings),
        .target(
            name: "LauncherAPI",
            dependencies: [
                "LauncherCore",
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ], swiftSettings: swiftSettings),
        .executableTarget(
            name: "wfl",
            dependencies: [
                "LauncherCore", "LauncherStages", "LauncherStageSupport", "LauncherPostgres", "LauncherAPI", "LauncherNotifications",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ], swiftSettings: swiftSettings),

        // Benchmarks: `swift run -c release wfl-bench`; not part of the test suite.
        .executableTarget(
            name: "wfl-bench",
            dependencies: [
                "LauncherCore", "LauncherPostgres", "LauncherStages", "LauncherSystem", .product(name: "Logging", package: "swift-log"),
            ], path: "Benchmarks", swiftSettings: swiftSettings),

        // Tests: one target per library; real PostgreSQL (scripts/pg-up.sh), real processes.
        .target(
            name: "LauncherTestSupport",
            dependencies: [
                "LauncherCore", "LauncherPostgres", "LauncherStages", "LauncherSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                // The in-process fake of the Terra services.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Crypto", package: "swift-crypto"),
            ], path: "Tests/Support", swiftSettings: swiftSettings),
        // The store contract: one set of scenarios run against the in-memory store (fast, in
        // LauncherCoreTests) and against PostgreSQL (in LauncherPostgresTests).
        .target(name: "LauncherStoreContract", dependencies: ["LauncherCore"], path: "Tests/StoreContract", swiftSettings: swiftSettings),
        .testTarget(
            name: "LauncherNotificationsTests", dependencies: ["LauncherNotifications", "LauncherCore"], swiftSettings: swiftSettings),
        .testTarget(name: "LauncherCoreTests", dependencies: ["LauncherCore", "LauncherStoreContract"], swiftSettings: swiftSettings),
        .testTarget(
            name: "LauncherStagesTests", dependencies: ["LauncherStages", "LauncherTestSupport", "LauncherSystem"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "LauncherPostgresTests",
            dependencies: [
                "LauncherPostgres", "LauncherTestSupport", "LauncherStages", "LauncherSystem", "LauncherStoreContract",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ], swiftSettings: swiftSettings),
        .testTarget(
            name: "LauncherSLURMTests",
            dependencies: [
                "LauncherStages", "LauncherTestSupport", "LauncherSystem", "LauncherPostgres",
            ], swiftSettings: swiftSettings),
        .testTarget(
            name: "LauncherContainerTests",
            dependencies: [
                "LauncherStages", "LauncherTestSupport", "LauncherSystem", "LauncherPostgres",
            ], swiftSettings: swiftSettings),
        .testTarget(
            name: "LauncherWESTests",
            dependencies: [
                "LauncherStages", "LauncherStageSupport", "LauncherTestSupport", "LauncherSystem", "LauncherPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ], exclude: ["cwl"], swiftSettings: swiftSettings),
        .testTarget(
            name: "LauncherTerraTests",
            dependencies: [
                "LauncherStages", "LauncherTerra", "LauncherTestSupport", "LauncherPostgres",
            ], swiftSettings: swiftSettings),
        .testTarget(
            name: "LauncherAPITests",
            dependencies: [
                "LauncherAPI", "LauncherTestSupport", "LauncherPostgres",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                // Signing test JWTs with keys made in the test.
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ], swiftSettings: swiftSettings),
        .testTarget(
            name: "WFLCLITests",
            dependencies: [
                "wfl", "LauncherTestSupport", "LauncherSystem", "LauncherPostgres",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The notification tests' Slack fake and webhook receiver.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: swiftSettings),
    ]
)
