"""MQTT ingest: broker -> validation -> PostgreSQL, acknowledged only after commit."""
