import Foundation
import LauncherCore
import LauncherStageSupport
import LauncherSystem

/// The container runtime's command line (podman, or docker where that is what the machine
/// has), each call bounded by a timeout. A call that fails throws `Unavailable`: the caller
/// treats the answer as unknown and asks again later.
struct ContainerRuntime: Sendable {
    let program: String
    let timeout: Duration

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// One container as the runtime lists it.
    struct Container: Sendable {
        var id: String
        var name: String
        var state: String
        var workflow: String?
    }

    /// The final state of an exited container.
    struct Exit: Sendable {
        var code: Int
        var oomKilled: Bool
        var error: String
    }

    /// Which runtime answers here: the named one, else podman, else docker. The error says
    /// why each failed.
    static func detect(_ requested: String?, timeout: Duration) async throws -> ContainerRuntime {
        var problems: [String] = []
        for program in requested.map({ [$0] }) ?? ["podman", "docker"] {
            let runtime = ContainerRuntime(program: program, timeout: timeout)
            do {
                let result = try await Command.run([program, "version", "--format", "{{.Server.Version}}"], timeout: timeout)
                if result.status == 0 && !result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return runtime }
                problems.append("\(program): \(result.message.isEmpty ? "exit status \(result.status)" : result.message)")
            } catch {
                problems.append("\(program): not installed")
            }
        }
        throw LauncherError.invalid(
            "executor.runtime",
            (requested.map { "\($0) does not work here" } ?? "neither podman nor docker works here")
                + " (\(problems.joined(separator: "; "))); install podman (apt-get install podman runc) or start the docker daemon")
    }

    /// Runs one runtime command. `folder` is its working folder, which the monitor a `run`
    /// leaves behind (podman's conmon) inherits: conmon drops its `oom` marker there.
    func run(_ arguments: [String], in folder: String? = nil) async throws -> Command.Result {
        try await BackendMetrics.measure("\(program) \(arguments.first ?? "")") { try await runCommand(arguments, in: folder) }
    }

    private func runCommand(_ arguments: [String], in folder: String?) async throws -> Command.Result {
        do {
            let result = try await Command.run([program] + arguments, workingDirectory: folder, timeout: timeout)
            if result.timedOut { throw Unavailable(description: "\(program) \(arguments.first ?? "") did not answer within \(timeout)") }
            return result
        } catch let error as Unavailable {
            throw error
        } catch {
            throw Unavailable(description: "\(program) could not run: \(error)")
        }
    }

    /// Every container (running or not) carrying the workload's label, in one call.
    func list(workload: String) async throws -> [Container] {
        let result = try await run(["ps", "--all", "--no-trunc", "--filter", "label=wfl.workload=\(workload)", "--format", "json"])
        guard result.status == 0 else { throw Unavailable(description: "\(program) ps failed: \(result.message)") }
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return [] }
        // podman prints one JSON array; docker one JSON object per line.
        let values: [JSONValue]
        if text.hasPrefix("[") {
            values = (try? JSONValue.parse(text))?.arrayValue ?? []
        } else {
            values = text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
        }
        return values.compactMap { value in
            guard let id = (value["Id"] ?? value["ID"])?.stringValue else { return nil }
            let name = value["Names"]?.arrayValue?.first?.stringValue ?? value["Names"]?.stringValue ?? ""
            let labels =
                value["Labels"]?.objectValue?["wfl.workflow"]?.stringValue
                ?? value["Labels"]?.stringValue?.split(separator: ",").first { $0.hasPrefix("wfl.workflow=") }
                .map { String($0.dropFirst("wfl.workflow=".count)) }
            return Container(id: id, name: name, state: (value["State"]?.stringValue ?? "").lowercased(), workflow: labels)
        }
    }

    /// Exit codes of exited containers, in one call.
    func exits(_ ids: [String]) async throws -> [String: Exit] {
        guard !ids.isEmpty else { return [:] }
        let result = try await run(["inspect", "--format", "{{.Id}}|{{.State.ExitCode}}|{{.State.OOMKilled}}|{{.State.Error}}"] + ids)
        guard result.status == 0 || !result.stdout.isEmpty else {
            throw Unavailable(description: "\(program) inspect failed: \(result.message)")
        }
        var exits: [String: Exit] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4, let code = Int(parts[1]) else { continue }
            exits[parts[0]] = Exit(code: code, oomKilled: parts[2] == "true", error: parts[3])
        }
        return exits
    }

    /// Stops containers (SIGTERM, then SIGKILL after `grace` seconds), all in one call.
    func stop(_ names: [String], grace: Int = 5) async throws {
        guard !names.isEmpty else { return }
        let result = try await run(["stop", "--time", String(grace)] + names)
        if result.status != 0 && !result.message.contains("no such container") && !result.message.contains("No such container") {
            throw Unavailable(description: "\(program) stop failed: \(result.message)")
        }
    }

    /// Removes containers whose results are recorded, in one call; failures are harmless.
    func remove(_ ids: [String]) async {
        guard !ids.isEmpty else { return }
        _ = try? await run(["rm", "--force"] + ids)
    }
}
