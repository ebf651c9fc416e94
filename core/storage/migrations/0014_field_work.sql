-- Field work (issue 15): case-insensitive device ids, idempotent offline writes,
-- technician enrolment links, and work orders hanging off alerts.

-- Device ids are unique regardless of case. New ids are stored upper case; ids registered
-- before this migration keep their spelling (devices log in to the broker with it). When
-- existing rows already differ only by case the unique index cannot be built: a plain index
-- serves the lookups, a WARNING names the pairs, and the registry still refuses new clashes.
DO $$
DECLARE
    clashes text;
BEGIN
    SELECT string_agg(ids, '; ') INTO clashes FROM (
        SELECT string_agg(id, ' = ' ORDER BY id) AS ids FROM devices
        GROUP BY upper(id) HAVING count(*) > 1
    ) c;
    IF clashes IS NULL THEN
        CREATE UNIQUE INDEX IF NOT EXISTS devices_id_upper_idx ON devices (upper(id));
    ELSE
        RAISE WARNING 'device ids that differ only by case: %; rename or decommission one'
            ' of each pair, then drop devices_id_upper_idx and migrate again', clashes;
        CREATE INDEX IF NOT EXISTS devices_id_upper_idx ON devices (upper(id));
    END IF;
END $$;

-- A phone that sent a write and lost the answer sends it again with the same key: the
-- stored response is returned and nothing is done twice. Keys are per caller.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    actor text NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 8 AND 100),
    request text NOT NULL,
    status integer NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Enrolment: an admin issues a short-lived one-time code (shown as a link and QR); the
-- phone that opens it receives a technician API key named after the technician.
CREATE TABLE IF NOT EXISTS technician_enrolments (
    id bigserial PRIMARY KEY,
    code_hash bytea NOT NULL UNIQUE,
    technician text NOT NULL CHECK (length(technician) BETWEEN 1 AND 100),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    api_key_id bigint REFERENCES api_keys (id),
    revoked_at timestamptz
);

-- Work orders. The statuses are declared in workorders/lifecycle.py (a test keeps them equal).
CREATE TABLE IF NOT EXISTS work_orders (
    id bigserial PRIMARY KEY,
    alert_id bigint REFERENCES alerts (id),
    device_id text REFERENCES devices (id),
    title text NOT NULL,
    priority text NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'accepted', 'done', 'verified', 'cancelled')),
    latitude double precision,
    longitude double precision,
    place text,
    holder text,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    done_at timestamptz,
    verified_at timestamptz,
    returned_reason text
);
-- One live order per alert: the rule hook and an operator cannot both open one.
CREATE UNIQUE INDEX IF NOT EXISTS work_orders_alert_live_idx ON work_orders (alert_id)
    WHERE status NOT IN ('verified', 'cancelled');
CREATE INDEX IF NOT EXISTS work_orders_status_idx ON work_orders (status, priority);

-- Every step of every order: who, when, what, and the note.
CREATE TABLE IF NOT EXISTS work_order_events (
    id bigserial PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES work_orders (id),
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    event text NOT NULL,
    note text
);
CREATE INDEX IF NOT EXISTS work_order_events_order_idx ON work_order_events (order_id, id);

-- Which alert rules open a work order by themselves, and at what priority (data, not code).
CREATE TABLE IF NOT EXISTS work_order_rules (
    rule text PRIMARY KEY,
    priority text NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    enabled boolean NOT NULL DEFAULT true
);
INSERT INTO work_order_rules (rule, priority) VALUES
    ('lamp_failure', 'normal'),
    ('feeder_outage', 'high'),
    ('node_down', 'high'),
    ('refused_data', 'normal')
ON CONFLICT (rule) DO NOTHING;

-- Photos a technician takes of a device (the pole, the cabinet, the repair), bounded in
-- size; the phone shrinks them before sending. The journal names each one.
CREATE TABLE IF NOT EXISTS device_photos (
    id bigserial PRIMARY KEY,
    device_id text NOT NULL REFERENCES devices (id),
    taken_at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    data bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 2097152)
);
CREATE INDEX IF NOT EXISTS device_photos_device_idx ON device_photos (device_id, id DESC);
