-- Device registry: models, kind-specific mounting details, flood thresholds, uplinks,
-- a journal of every change, and broker credentials (stored only as Mosquitto hashes).
CREATE TABLE IF NOT EXISTS device_models (
    id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    kind text NOT NULL,
    manufacturer text NOT NULL,
    model text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (manufacturer, model)
);

ALTER TABLE devices
    ADD COLUMN IF NOT EXISTS model_id text REFERENCES device_models (id),
    ADD COLUMN IF NOT EXISTS village text,
    ADD COLUMN IF NOT EXISTS install_date date,
    ADD COLUMN IF NOT EXISTS uplink_id text
        REFERENCES devices (id) DEFERRABLE INITIALLY DEFERRED,
    ADD COLUMN IF NOT EXISTS mounting jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS waspada_cm double precision,
    ADD COLUMN IF NOT EXISTS siaga_cm double precision,
    ADD COLUMN IF NOT EXISTS awas_cm double precision,
    ADD COLUMN IF NOT EXISTS batch text,
    ADD CONSTRAINT devices_uplink_not_self CHECK (uplink_id IS NULL OR uplink_id <> id),
    ADD CONSTRAINT devices_thresholds_ascend CHECK (
        (waspada_cm IS NULL AND siaga_cm IS NULL AND awas_cm IS NULL)
        OR (waspada_cm < siaga_cm AND siaga_cm < awas_cm)
    );
CREATE INDEX IF NOT EXISTS devices_district_idx ON devices (district);
CREATE INDEX IF NOT EXISTS devices_status_idx ON devices (status);
CREATE INDEX IF NOT EXISTS devices_batch_idx ON devices (batch);
CREATE INDEX IF NOT EXISTS devices_uplink_idx ON devices (uplink_id);

-- Who changed what, when. `changes` maps a field to [old, new].
CREATE TABLE IF NOT EXISTS device_journal (
    id bigserial PRIMARY KEY,
    device_id text NOT NULL REFERENCES devices (id),
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    changes jsonb NOT NULL DEFAULT '{}',
    note text
);
CREATE INDEX IF NOT EXISTS device_journal_device_idx ON device_journal (device_id, id DESC);

-- MQTT credentials: the username is the device id; the password exists in clear only in
-- the response that issued it. password_hash is Mosquitto's PBKDF2-SHA512 ($7$) format,
-- so the broker's password file is generated from this table alone.
CREATE TABLE IF NOT EXISTS device_credentials (
    id bigserial PRIMARY KEY,
    device_id text NOT NULL REFERENCES devices (id),
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS device_credentials_live_idx
    ON device_credentials (device_id) WHERE revoked_at IS NULL;
