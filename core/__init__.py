"""Citysense shared kernel: settings, device-kind declarations, the MQTT wire contract, storage."""
