"""Citysense entry points: the ``citysense`` command and local (embedded) services."""
