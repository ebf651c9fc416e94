-- API hardening (issue 13): keys can expire, and a supervisor role sits above technicians
-- (flood thresholds, decommissioning, credentials of devices in service).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('admin', 'supervisor', 'technician', 'operator', 'viewer'));
