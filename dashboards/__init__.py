"""Grafana dashboards generated as code, and the built-in live page's data."""
