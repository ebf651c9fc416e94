"""Commands to devices: declared per kind, validated, sent QoS 1, tracked to the end."""
