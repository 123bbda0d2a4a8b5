-- Who may do what. API tokens are stored as the SHA-256 of the token, never the token; a
-- revoked token keeps its row (who made it, when it was revoked) and frees its name.
CREATE TABLE api_token (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    hash        bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX api_token_live_name ON api_token (name) WHERE revoked_at IS NULL;

-- Every event a request caused names who made it (NULL: the update loop).
ALTER TABLE workload_event ADD COLUMN actor text;
