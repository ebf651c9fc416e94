"""Local PostgreSQL and Mosquitto instances for tests, benchmarks and ``citysense up``."""
