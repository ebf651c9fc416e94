"""LoRaWAN: uplinks from ChirpStack v4 / The Things Stack v3 into the native ingest path."""
