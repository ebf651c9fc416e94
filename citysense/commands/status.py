"""``citysense status`` and ``citysense env``: which instance commands talk to, and its exports."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from urllib.parse import unquote, urlsplit

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings


def _resolved(settings: Settings) -> tuple[Settings, str, str | None, str | None]:
    """Settings as other commands would use them, where they come from, API URL, data dir."""
    from citysense.instance import apply_instance, find_instance

    found = find_instance()
    resolved, filled = apply_instance(settings, found)
    if found.instance is not None:
        kept = sorted({"database_url", "mqtt_host", "mqtt_port"} - set(filled))
        source = found.note + (f" (overridden by your settings: {', '.join(kept)})" if kept else "")
        return resolved, source, found.instance.api_url, str(found.data_dir)
    given = sorted(settings.model_fields_set & {"database_url", "mqtt_host", "mqtt_port"})
    source = f"{found.note}; using " + (
        f"the settings given ({', '.join(given)}) and defaults" if given else "the defaults"
    )
    return resolved, source, None, str(found.data_dir)


def _answers_db(url: str) -> str:
    from citysense.reach import check_database

    try:
        check_database(url, timeout=3)
    except UsageError as exc:
        return f"NOT ANSWERING ({str(exc).split(': ', 1)[-1].split(';')[0]})"
    return "answers"


def _answers_mqtt(settings: Settings) -> str:
    from citysense.reach import check_broker

    try:
        check_broker(settings, timeout=3)
    except UsageError as exc:
        return f"NOT ANSWERING ({str(exc).split(': ', 1)[-1].split(';')[0]})"
    return "answers"


def _answers_api(url: str | None) -> str:
    import httpx

    if url is None:
        return "unknown (no 'citysense up' recorded one; 'citysense api' serves it)"
    try:
        r = httpx.get(f"{url}/healthz", timeout=3)
    except httpx.HTTPError as exc:
        return f"NOT ANSWERING ({type(exc).__name__})"
    return "answers" if r.status_code == 200 else f"answers with HTTP {r.status_code}"


def cmd_status(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    import logging

    from citysense.reach import redact

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per part, not per request

    resolved, source, api_url, data_dir = _resolved(settings)
    db = _answers_db(resolved.database_url)
    mqtt = _answers_mqtt(resolved)
    api = _answers_api(api_url)
    print(f"instance  {source}")
    print(f"data dir  {data_dir}")
    print(f"database  {redact(resolved.database_url)}: {db}")
    print(f"broker    {resolved.mqtt_host}:{resolved.mqtt_port}: {mqtt}")
    print(f"api       {api_url or '-'}: {api}")
    if api_url:
        print(f"pages     {api_url}/ops  {api_url}/technician/  {api_url}/docs")
    from citysense.instance import read_keys

    if data_dir and read_keys(Path(data_dir)):
        print("keys      operator and technician keys: 'citysense env' prints them")
    ok = all(x == "answers" for x in (db, mqtt)) and (api_url is None or api == "answers")
    return 0 if ok else 1


def env_lines(settings: Settings, api_url: str | None, data_dir: str | None) -> list[str]:
    """``export`` lines for a shell: Citysense's settings, libpq's, and the tools' commands."""
    from citysense.instance import read_keys

    q = shlex.quote
    out = [
        f"export CITYSENSE_DATABASE_URL={q(settings.database_url)}",
        f"export CITYSENSE_MQTT_HOST={q(settings.mqtt_host)}",
        f"export CITYSENSE_MQTT_PORT={settings.mqtt_port}",
    ]
    if api_url:
        out.append(f"export CITYSENSE_API_URL={q(api_url)}")
    try:
        parts = urlsplit(settings.database_url)
        pg = {
            "PGHOST": parts.hostname or "",
            "PGPORT": str(parts.port or ""),
            "PGUSER": unquote(parts.username or ""),
            "PGPASSWORD": unquote(parts.password or ""),
            "PGDATABASE": parts.path.lstrip("/"),
        }
    except ValueError:
        pg = {}
    out += [f"export {k}={q(v)}" for k, v in pg.items() if v]
    keys = read_keys(Path(data_dir)) if data_dir else None
    if keys:
        out += [
            f"export CITYSENSE_OPERATOR_KEY={q(keys.operator)}",
            f"export CITYSENSE_TECHNICIAN_KEY={q(keys.technician)}",
        ]
    if pg:
        out.append(
            f"# Grafana: a PostgreSQL data source, host {pg.get('PGHOST', '')}:"
            f"{pg.get('PGPORT', '')}, database {pg.get('PGDATABASE', '')},"
            f" user {pg.get('PGUSER', '')} (or 'citysense dashboards publish')"
        )
    out += [
        "# psql                  (uses the PG* variables above)",
        f"# mosquitto_sub -h {settings.mqtt_host} -p {settings.mqtt_port}"
        f" -t '{settings.topic_root}/#' -v",
    ]
    if api_url and keys:
        out.append(f'# curl -H "Authorization: Bearer $CITYSENSE_OPERATOR_KEY" {api_url}/alerts')
    return out


def cmd_env(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    import sys

    resolved, source, api_url, data_dir = _resolved(settings)
    print(f"# {source}", file=sys.stderr)
    print("\n".join(env_lines(resolved, api_url, data_dir)))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    st = sub.add_parser(
        "status",
        help="which instance commands talk to, and whether each part answers",
        description="Shows the instance other commands use (the running 'citysense up' on"
        " this machine, unless CITYSENSE_* settings say otherwise) and checks that its"
        " database, broker and API answer. Exit status 1 when a part does not.",
    )
    st.set_defaults(func=cmd_status)
    env = sub.add_parser(
        "env",
        help="print shell exports for the running instance (psql, mosquitto_sub, curl)",
        description="Prints 'export' lines: CITYSENSE_* settings, PGHOST/PGPORT/PGUSER/"
        'PGDATABASE for psql, and the local keys. Use: eval "$(citysense env)".',
    )
    env.set_defaults(func=cmd_env)
