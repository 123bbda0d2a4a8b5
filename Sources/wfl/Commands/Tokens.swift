import ArgumentParser
import Foundation
import LauncherCore

/// `wfl token create|list|revoke`: API tokens for `wfl serve --auth`. On the database as its
/// admin (whoever holds the database's credentials); with --server, as an admin token allows.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API tokens for wfl serve --auth (only their hashes are stored).",
        subcommands: [TokenCreate.self, TokenList.self, TokenRevoke.self])
}

struct TokenCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a token and print it once: it cannot be shown again.")

    @Option(help: "The token's name (what list and revoke use).") var name: String
    @Option(help: "viewer (reads), operator (create, start, stop, retry, abort) or admin (also tokens, Local and Container).")
    var role: String
    @Option(help: "Its lifetime: 30d, 12h, 90m (default: no expiry).") var expires: String?
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        var request: JSONObject = ["name": .string(name), "role": .string(role)]
        if let expires { request["expires"] = .string(expires) }
        let (json, body) = (options.json, JSONValue.object(request))
        let created = try await Clients.with(options) { client in try await client.createToken(body) }
        if json {
            Output.printJSON(created.json)
        } else {
            print(created.token ?? "")
            let lifetime = created.expires.map { "expires \($0)" } ?? "does not expire"
            FileHandle.standardError.write(Data("Token \(created.name) (\(created.role), \(lifetime)). It is shown only now.\n".utf8))
        }
    }
}

struct TokenList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens (never the tokens themselves).")
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let json = options.json
        let tokens = try await Clients.with(options) { client in try await client.tokens() }
        if json { return Output.printJSON(.array(tokens.map(\.json))) }
        if tokens.isEmpty { return print("No tokens.") }
        Output.table(
            ["NAME", "ROLE", "CREATED", "BY", "EXPIRES", "REVOKED"],
            tokens.map {
                [$0.name, $0.role, $0.created, $0.createdBy, $0.expires ?? "-", $0.revoked ?? "-"]
            })
    }
}

struct TokenRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a token: requests carrying it get 401 at once.")
    @Argument(help: "The token's name.") var name: String
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let (json, name) = (options.json, name)
        let revoked = try await Clients.with(options) { client in try await client.revokeToken(name: name) }
        if json { Output.printJSON(revoked.json) } else { print("Revoked token \(revoked.name).") }
    }
}
