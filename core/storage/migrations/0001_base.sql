-- Base schema: devices, latest state, dead letters, the kinds registry.
CREATE TABLE IF NOT EXISTS citysense_kinds (
    kind text PRIMARY KEY,
    readings_table text NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS devices (
    id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    kind text NOT NULL,
    name text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('planned', 'installed', 'active', 'maintenance', 'decommissioned')),
    district text,
    latitude double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision CHECK (longitude BETWEEN -180 AND 180),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS devices_kind_idx ON devices (kind);

-- Newest reading per device. Only moves forward in device time; received_at tracks the
-- last time anything arrived (a backlog counts as a sign of life).
CREATE TABLE IF NOT EXISTS latest_state (
    device_id text PRIMARY KEY,
    kind text NOT NULL,
    time timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    "values" jsonb NOT NULL
);

-- Rejected messages, kept with their raw bytes so an operator can see and replay them.
CREATE TABLE IF NOT EXISTS dead_letters (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic text NOT NULL,
    device_id text,
    code text NOT NULL,
    reason text NOT NULL,
    payload bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received_at_idx ON dead_letters (received_at DESC);
CREATE INDEX IF NOT EXISTS dead_letters_device_idx ON dead_letters (device_id, received_at DESC);
