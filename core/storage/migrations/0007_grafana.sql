-- Dashboards (issue 7): a read-only role for Grafana's data source; flood bands per station.
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

-- Per-station warning thresholds in cm of water above gauge zero (TMA), which the flood
-- dashboards and the live page draw as bands. The device registry (migration 0005) declares
-- these same columns with an ascending check; IF NOT EXISTS makes this a no-op there.
ALTER TABLE devices
    ADD COLUMN IF NOT EXISTS waspada_cm double precision,
    ADD COLUMN IF NOT EXISTS siaga_cm double precision,
    ADD COLUMN IF NOT EXISTS awas_cm double precision;

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
                                 'citysense_kinds', 'citysense_meta')
                   OR c.relname LIKE 'readings\_%' OR c.relname LIKE 'rollup\_%\_1h')
        LOOP
            EXECUTE format('GRANT SELECT ON %I TO citysense_grafana', t);
        END LOOP;
    END IF;
END
$$;
