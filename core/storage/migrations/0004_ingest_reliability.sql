-- Ingest reliability: device online/offline from the retained status topic (birth and
-- last will), and an index for the "published but not registered" list.
CREATE TABLE IF NOT EXISTS device_status (
    device_id text PRIMARY KEY,
    kind text NOT NULL,
    online boolean NOT NULL,
    changed_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS dead_letters_unknown_device_idx
    ON dead_letters (device_id, received_at DESC) WHERE code = 'unknown_device';
