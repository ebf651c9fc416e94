-- Issue 13 (isolation, bounded by bytes): a dead letter keeps at most a few KiB of its
-- payload; these say how big the whole payload was and identify it.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload_bytes integer;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload_sha256 bytea;
