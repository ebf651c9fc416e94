"""Device registry: inventory, lifecycle, credentials (see the registry issue)."""
