-- Alarm management (issue 14): priority and level as columns, shelving, flood episodes with
-- their peak, and an append-only history of every lifecycle event.
-- The CHECK lists match alerts/vocabulary.py (tests/test_alert_lifecycle.py compares them).
ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_status_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_status_check
    CHECK (status IN ('open', 'acknowledged', 'shelved', 'returned', 'resolved'));

ALTER TABLE alerts ADD COLUMN IF NOT EXISTS priority text NOT NULL DEFAULT 'low';
ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_priority_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_priority_check
    CHECK (priority IN ('urgent', 'high', 'medium', 'low'));
-- Sort key within the list: priority first, then consequence (e.g. devices behind an outage).
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS rank bigint NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS level text;
ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_level_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_level_check
    CHECK (level IS NULL OR level IN ('NORMAL', 'WASPADA', 'SIAGA', 'AWAS'));
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS message_en text NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS peak_value double precision;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS peak_at timestamptz;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS shelved_until timestamptz;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS shelved_by text;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS shelve_reason text;
CREATE INDEX IF NOT EXISTS alerts_rank_idx ON alerts (rank DESC, opened_at DESC)
    WHERE status <> 'resolved';

CREATE TABLE IF NOT EXISTS alert_events (
    id bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT now(),
    observed_at timestamptz,
    event text NOT NULL CHECK (event IN ('raise', 'escalate', 'deescalate', 'update',
        'acknowledge', 'shelve', 'unshelve', 'clear', 'resolve')),
    by text NOT NULL,
    from_status text NOT NULL CHECK (from_status IN ('normal', 'open', 'acknowledged',
        'shelved', 'returned', 'resolved')),
    to_status text NOT NULL CHECK (to_status IN ('normal', 'open', 'acknowledged',
        'shelved', 'returned', 'resolved')),
    level text CHECK (level IS NULL OR level IN ('NORMAL', 'WASPADA', 'SIAGA', 'AWAS')),
    value double precision,
    priority text CHECK (priority IS NULL OR priority IN ('urgent', 'high', 'medium', 'low')),
    note text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_events_alert_idx ON alert_events (alert_id, id);
