import Foundation
import Logging

public enum StageKind: String, Sendable, CaseIterable {
    case source, executor, sink
}

/// What every stage implementation has in common.
///
/// A stage is a backend adapter and nothing more: it never touches the launcher's queues. The
/// core moves items and workflows between the PostgreSQL queues and calls the stage with
/// batches; the stage talks to its backend and reports what happened. That keeps the
/// reliability rules (nothing lost, nothing launched twice) in one place for every backend.
public protocol Stage: Sendable {
    /// The configuration as stored with the workload and shown to users. Always holds `name`.
    var storedConfig: JSONObject { get }

    /// Checks that need the network (the workspace exists, the server supports the workflow
    /// type). Runs once at create time, before anything is written.
    func validateRemotely(_ context: StageContext) async throws

    /// Runs the remote checks and returns the configuration to store. A stage that records
    /// something it read from the backend at create (Terra's method-configuration version)
    /// returns it here; the default is `config` after `validateRemotely`.
    func validatedConfig(_ context: StageContext) async throws -> JSONObject
}

extension Stage {
    public func validateRemotely(_ context: StageContext) async throws {}

    public func validatedConfig(_ context: StageContext) async throws -> JSONObject {
        try await validateRemotely(context)
        return storedConfig
    }

    /// The stage's type name, for messages.
    public var typeName: String { storedConfig["name"]?.stringValue ?? "" }
}

/// A stage built from its typed configuration (every built-in stage is one).
public protocol ConfiguredStage: Stage {
    associatedtype Config: StageConfig
    var config: Config { get }
}

extension ConfiguredStage {
    public var storedConfig: JSONObject { config.stored }
    public var typeName: String { Config.stageName }
}

/// What the launcher tells a stage about the workload it works for.
public struct StageContext: Sendable {
    public var workloadUUID: UUID
    public var project: String
    public var logger: Logger
    public var environment: LauncherEnvironment

    public init(workloadUUID: UUID, project: String, logger: Logger, environment: LauncherEnvironment) {
        self.workloadUUID = workloadUUID
        self.project = project
        self.logger = logger
        self.environment = environment
    }
}

/// Process-wide settings stages may need.
public struct LauncherEnvironment: Sendable {
    /// The launcher's data folder (`WFL_HOME`): default work folders live below it.
    public var home: URL
    public var version: String
    /// The settings stages read (service URLs, credential files); the process's own by
    /// default, set explicitly by tests.
    public var settings: Settings
    /// Where configurations may point in the file system (`WFL_ALLOWED_ROOTS`, folders
    /// separated by `:`; unset: anywhere).
    public var files: FilePolicy

    public init(
        home: URL, version: String = LauncherVersion.current,
        settings: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.home = home
        self.version = version
        self.settings = Settings(settings)
        files = FilePolicy(allowedRoots: self.settings.allowedRoots)
    }

    /// How stored stage configurations are read back.
    public var storedContext: ConfigContext { ConfigContext(origin: .stored, files: files, settings: settings) }

    /// How a request's stage configurations are read; relative paths resolve against `base`.
    public func requestContext(relativeTo base: String?) -> ConfigContext {
        var files = self.files
        files.relativeBase = base
        return ConfigContext(origin: .request, files: files, settings: settings)
    }
}

public enum LauncherVersion {
    public static let current = "0.1.0"
}

/// Where this binary came from, as WFL's `/version` says it: read from `wfl-build.json`
/// beside the executable, which `scripts/build-info.sh` writes after a build (SwiftPM has no
/// way to stamp values into a build without a plugin). Missing fields stay nil.
public struct BuildInfo: Sendable, Equatable {
    public var commit: String?
    public var committed: String?
    public var built: String?
    public var user: String?

    public static let fileName = "wfl-build.json"

    public init(commit: String? = nil, committed: String? = nil, built: String? = nil, user: String? = nil) {
        self.commit = commit
        self.committed = committed
        self.built = built
        self.user = user
    }

    public static let current: BuildInfo = {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return read(executable.deletingLastPathComponent().appendingPathComponent(fileName).path)
    }()

    /// The file's fields; each must be a short line of text, or it is left out.
    public static func read(_ path: String) -> BuildInfo {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 4096,
            let object = (try? JSONValue.parse(data))?.objectValue
        else { return BuildInfo() }
        func field(_ name: String) -> String? {
            guard let text = object[name]?.stringValue, !text.isEmpty, text.utf8.count <= 200,
                text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else { return nil }
            return text
        }
        return BuildInfo(commit: field("commit"), committed: field("committed"), built: field("built"), user: field("user"))
    }

    public var json: JSONObject {
        ["commit": JSONValue(commit), "committed": JSONValue(committed), "built": JSONValue(built), "user": JSONValue(user)].compacted
    }
}
