-- API keys for people and programs calling the HTTP API. Only a SHA-256 of each key is
-- kept (keys are 32 random bytes, so a fast hash is safe); the key is shown once.
CREATE TABLE IF NOT EXISTS api_keys (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'technician', 'operator', 'viewer')),
    key_hash bytea NOT NULL UNIQUE,
    prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
