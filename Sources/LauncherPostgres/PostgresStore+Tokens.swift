import Foundation
import LauncherCore
import PostgresNIO

extension PostgresStore {
    static let tokenColumns = "name, role, created_at, created_by, expires_at, revoked_at"

    static func token(_ row: PostgresRow) throws -> APITokenRecord {
        let r = row.makeRandomAccess()
        let role = try r[1].decode(String.self)
        guard let parsed = Role(rawValue: role) else {
            throw LauncherError(.internalError, "a stored token has an unknown role", internalDetail: "api_token.role = \(role)")
        }
        return APITokenRecord(
            name: try r[0].decode(String.self), role: parsed, createdAt: try r[2].decode(Date.self),
            createdBy: try r[3].decode(String.self), expires: try r[4].decode(Date?.self), revokedAt: try r[5].decode(Date?.self))
    }

    public func createToken(_ token: NewAPIToken) async throws -> APITokenRecord {
        let rows = try await database.rows(
            """
            INSERT INTO api_token (name, role, hash, created_by, expires_at)
            VALUES (\(token.name), \(token.role.rawValue), \(Data(token.hash)), \(token.createdBy), \(token.expires))
            ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
            RETURNING \(unescaped: Self.tokenColumns)
            """)
        guard let row = rows.first else {
            throw LauncherError(
                .conflict, "a token named \(token.name) already exists; revoke it first or choose another name",
                details: ["field": "name"])
        }
        return try Self.token(row)
    }

    public func tokens() async throws -> [APITokenRecord] {
        try await database.rows("SELECT \(unescaped: Self.tokenColumns) FROM api_token ORDER BY name, id").map(Self.token)
    }

    public func token(hash: [UInt8]) async throws -> APITokenRecord? {
        try await database.rows("SELECT \(unescaped: Self.tokenColumns) FROM api_token WHERE hash = \(Data(hash))").first.map(Self.token)
    }

    public func revokeToken(name: String) async throws -> APITokenRecord? {
        try await database.rows(
            """
            UPDATE api_token SET revoked_at = now() WHERE name = \(name) AND revoked_at IS NULL
            RETURNING \(unescaped: Self.tokenColumns)
            """
        ).first.map(Self.token)
    }
}
