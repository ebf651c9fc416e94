"""Simulated sensors that publish over the real wire contract."""
