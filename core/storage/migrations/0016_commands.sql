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

ALTER TABLE devices ADD COLUMN IF NOT EXISTS dev_eui text
    CHECK (dev_eui IS NULL OR dev_eui ~ '^[0-9a-f]{16}$');
CREATE UNIQUE INDEX IF NOT EXISTS devices_dev_eui_idx ON devices (dev_eui)
    WHERE dev_eui IS NOT NULL;
