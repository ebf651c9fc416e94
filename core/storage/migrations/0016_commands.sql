-- Commands to devices (one row per device per command), tracked to the end; the LoRaWAN
-- DevEUI of a device.
CREATE TABLE IF NOT EXISTS commands (
    id uuid PRIMARY KEY,
    request_id uuid NOT NULL,
    device_id text NOT NULL REFERENCES devices (id),
    kind text NOT NULL,
    command text NOT NULL,
    args jsonb NOT NULL DEFAULT '{}',
    target text NOT NULL,
    actor text NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (
        status IN ('queued', 'sent', 'delivered', 'done', 'failed', 'expired')
    ),
    detail text,
    created_at timestamptz NOT NULL DEFAULT now(),
    deadline timestamptz NOT NULL,
    sent_at timestamptz,
    delivered_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS commands_open_idx ON commands (deadline)
    WHERE status IN ('queued', 'sent', 'delivered');
CREATE INDEX IF NOT EXISTS commands_device_idx ON commands (device_id, created_at DESC);
CREATE INDEX IF NOT EXISTS commands_request_idx ON commands (request_id);
CREATE INDEX IF NOT EXISTS commands_created_idx ON commands (created_at DESC);

-- LoRaWAN devices carry their DevEUI as a mounting detail (devices.mounting.DEV_EUI);
-- the bridge finds a device by it.
CREATE INDEX IF NOT EXISTS devices_dev_eui_idx ON devices (lower(mounting->>'dev_eui'))
    WHERE mounting ? 'dev_eui';
CREATE INDEX IF NOT EXISTS devices_lower_id_idx ON devices (lower(id));

-- Dimming schedules for street lights, assigned to a district, a feeder or one light (the
-- most specific assignment wins), and what the platform last asked each light for.
CREATE TABLE IF NOT EXISTS dimming_schedules (
    name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,40}$'),
    steps jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS schedule_assignments (
    scope text NOT NULL CHECK (scope IN ('device', 'feeder', 'district')),
    value text NOT NULL,
    schedule text NOT NULL REFERENCES dimming_schedules (name),
    assigned_at timestamptz NOT NULL DEFAULT now(),
    assigned_by text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS schedule_assignments_key
    ON schedule_assignments (scope, lower(value));
CREATE TABLE IF NOT EXISTS schedule_state (
    device_id text PRIMARY KEY REFERENCES devices (id),
    schedule text NOT NULL,
    level double precision,
    since timestamptz NOT NULL
);
