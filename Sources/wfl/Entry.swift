import ArgumentParser
import Foundation
import LauncherCore

/// `wfl`: parses arguments, runs the command, and maps failures onto exit codes:
/// 0 success, 1 an environment or server failure, 2 bad input (usage, validation, unknown
/// uuid), 3 `exec --wait` finished with failed or aborted workflows, 4 not authenticated or
/// not allowed.
@main
enum Entry {
    static func main() async {
        let code: Int32
        do {
            var command = try WFL.parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            code = 0
        } catch let error as LauncherError {
            var message = "wfl: \(error.message)"
            if let detail = error.internalDetail { message += " (\(detail))" }
            if let field = error.details["field"]?.stringValue, !field.isEmpty, !error.message.hasPrefix(field) {
                message += " (field: \(field))"
            }
            if let link = error.details["link"]?.stringValue { message += ": \(link)" }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            code = error.isAccessError ? 4 : error.isClientError ? 2 : 1
        } catch let error as ExitCode {
            code = error.rawValue
        } catch {
            let exit = WFL.exitCode(for: error)
            if exit == .success {
                print(WFL.fullMessage(for: error))
                code = 0
            } else if error is ValidationError || exit == .validationFailure {
                FileHandle.standardError.write(Data((WFL.fullMessage(for: error) + "\n").utf8))
                code = 2
            } else {
                FileHandle.standardError.write(Data("wfl: \(error)\n".utf8))
                code = 1
            }
        }
        exit(code)
    }
}

struct WFL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wfl",
        abstract: "Workflow Launcher: run workloads of workflows from a source, on a backend, into a sink.",
        discussion: """
            Without WFL_DATABASE_URL (or --database-url), wfl uses its embedded default: a private PostgreSQL \
            cluster in $WFL_HOME/postgres, started on demand and stopped when the last wfl process exits.
            """,
        version: LauncherVersion.current,
        subcommands: [
            Serve.self, Update.self, Migrate.self, Create.self, Exec.self, Start.self, Stop.self, Abort.self,
            Workloads.self, Workflows.self, Logs.self, Retry.self, Redeliver.self, Events.self, Stages.self, Token.self, DB.self,
        ])
}
