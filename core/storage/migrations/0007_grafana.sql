-- Dashboards (issue 7): a read-only role for Grafana's data source, and per-station flood bands.
--
-- Roles are cluster-wide while grants are per database, and many databases (tests, tenants)
-- may share one server: create the role only when missing, tolerate a concurrent creator, and
-- skip quietly when the migrating user may not create roles (an admin then runs this block).
-- The role has LOGIN but no password here; set one outside the repository:
--   ALTER ROLE citysense_grafana PASSWORD '...';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'citysense_grafana') THEN
        BEGIN
            CREATE ROLE citysense_grafana LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;  -- another database won the race
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'citysense_grafana not created: % lacks CREATEROLE', current_user;
        END;
    END IF;
END
$$;

-- Per-station warning thresholds in cm of water above gauge zero (TMA); configuration per
-- gauge, never constants. WASPADA < SIAGA < AWAS.
CREATE TABLE IF NOT EXISTS flood_thresholds (
    device_id text PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    waspada double precision NOT NULL,
    siaga double precision NOT NULL,
    awas double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (waspada < siaga AND siaga < awas)
);

-- Read access to what the dashboards show, and nothing else (no API keys, no credentials).
-- A kind added later gets its grant from `citysense dashboards grant`.
DO $$
DECLARE
    t text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'citysense_grafana') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO citysense_grafana', current_database());
        GRANT USAGE ON SCHEMA public TO citysense_grafana;
        FOR t IN
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
              AND (c.relname IN ('devices', 'latest_state', 'alerts', 'flood_levels',
                                 'flood_thresholds', 'citysense_kinds', 'citysense_meta')
                   OR c.relname LIKE 'readings\_%' OR c.relname LIKE 'rollup\_%\_1h')
        LOOP
            EXECUTE format('GRANT SELECT ON %I TO citysense_grafana', t);
        END LOOP;
    END IF;
END
$$;
