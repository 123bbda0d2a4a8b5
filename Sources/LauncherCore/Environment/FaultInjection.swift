import Foundation

/// Crash points for recovery tests: with `WFL_FAULT=<name>` in its environment, the process
/// exits on the spot (status 97) when it reaches that point, as a crash or a kill -9 would.
/// Unset in normal use; checking it costs one comparison.
public enum FaultInjection {
    static let armed = Settings.process[.fault]

    /// `after-submit`: the backend accepted a batch, and the database does not know yet.
    static func crashPoint(_ name: String) {
        if armed == name {
            FileHandle.standardError.write(Data("wfl: WFL_FAULT=\(name): exiting on purpose\n".utf8))
            exit(97)
        }
    }
}
