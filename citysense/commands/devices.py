"""``citysense devices ...``: the registry from a terminal (bulk work shows progress)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings

T = TypeVar("T")


class Progress:
    """A progress bar on stderr (rich): ``importing ━━━━━━━╸━━━ 5,000/10,000 0:00:04``."""

    def __init__(self, label: str, out: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=out or sys.stderr),
        )
        self.task = self.bar.add_task(label, total=None)
        self.started = False

    def advance(self, n: int, total: int) -> None:
        if not self.started:
            self.bar.start()
            self.started = True
        self.bar.update(self.task, advance=n, total=max(total, 1))
        task = self.bar.tasks[0]
        if task.total is not None and task.completed >= task.total:
            self.finish()

    def finish(self) -> None:
        if self.started:
            self.bar.stop()
            self.started = False


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(settings: Settings, kinds: KindRegistry, work: Callable[[Any], Awaitable[T]]) -> T:
    from core.storage.pool import create_pool
    from devices.region import load_region
    from devices.registry import Registry

    async def main() -> T:
        pool = await create_pool(settings.database_url, min_size=1, max_size=4)
        try:
            return await work(Registry(pool, settings, kinds, load_region(settings.region_file)))
        finally:
            await pool.close()

    return asyncio.run(main())


def _registry_error(
    fn: Callable[[Settings, KindRegistry, argparse.Namespace], int],
) -> Callable[[Settings, KindRegistry, argparse.Namespace], int]:
    from devices.registry import RegistryError

    def wrapped(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
        try:
            return fn(settings, kinds, args)
        except RegistryError as exc:
            print(f"citysense devices: {exc}", file=sys.stderr)
            return 1

    return wrapped


def _print_credentials(device_id: str, kind: str, password: str, root: str) -> None:
    print(
        f"MQTT credentials for {device_id} (shown once, store them in the device now):\n"
        f"  username: {device_id}\n  password: {password}\n"
        f"  topics:   {root.rstrip('/')}/{kind}/{device_id}/#"
    )


def cmd_register(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    raw: dict[str, Any] = {
        "id": args.id,
        "kind": args.kind,
        "district": args.district,
        "name": args.name,
        "village": args.village,
        "latitude": args.lat,
        "longitude": args.lon,
        "status": args.status,
        "install_date": args.install_date,
        "uplink_id": args.uplink,
        "model_id": args.model,
    }
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item!r}: write NAME=VALUE, e.g. --set pole_number=P-12")
        raw[key.strip()] = value

    async def work(registry: Any) -> Any:
        return await registry.register(raw, actor=actor())

    record, issued = _run(settings, kinds, work)
    print(f"registered {record.id} ({record.kind}, {record.status}) in {record.district}")
    _print_credentials(record.id, record.kind, issued.password, settings.topic_root)
    return 0


def cmd_list(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.registry import DeviceFilter, list_devices

    f = DeviceFilter(kind=args.kind, district=args.district, status=args.status, q=args.q)

    async def work(registry: Any) -> Any:
        return await list_devices(registry.pool, f, limit=args.limit, offset=args.offset)

    total, rows = _run(settings, kinds, work)
    w = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    w.writerow(["id", "kind", "status", "district", "village", "latitude", "longitude", "name"])
    for r in rows:
        w.writerow(
            [
                r.id,
                r.kind,
                r.status,
                r.district,
                r.village or "",
                r.latitude or "",
                r.longitude or "",
                r.name,
            ]
        )
    print(f"# {len(rows)} of {total} devices", file=sys.stderr)
    return 0


def cmd_import(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from devices.importer import run_import

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    batch = args.batch or f"import-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    bar = Progress("importing")

    async def work(registry: Any) -> Any:
        return await run_import(
            registry,
            data,
            actor=actor(),
            import_good=args.import_good,
            batch=batch,
            progress=bar.advance,
        )

    try:
        result = _run(settings, kinds, work)
    finally:
        bar.finish()
    for e in result.errors:
        print(f"{args.file}: {e}", file=sys.stderr)
    print(result.message)
    if result.credentials:
        out = Path(args.credentials_out or f"{batch}-credentials.csv")
        with out.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["device_id", "username", "password"])
            for c in result.credentials:
                w.writerow([c.device_id, c.username, c.password])
        out.chmod(0o600)
        print(f"batch {batch}: credentials written to {out} (keep it safe; shown only once)")
    return 0 if result.imported or not result.errors else 1


def cmd_export(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.registry import DeviceFilter, list_devices
    from devices.csv_io import export_csv

    async def work(registry: Any) -> Any:
        return await list_devices(
            registry.pool,
            DeviceFilter(kind=args.kind, district=args.district, status=args.status),
            limit=10_000_000,
            offset=0,
        )

    _, rows = _run(settings, kinds, work)
    text = export_csv(rows, delimiter=";" if args.semicolon else ",")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"exported {len(rows)} devices to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_label(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.registry import DeviceFilter, list_devices
    from devices import labels

    if not args.ids and not args.batch:
        raise UsageError("name device ids, or --batch BATCH for a sheet")

    async def work(registry: Any) -> Any:
        f = DeviceFilter(batch=args.batch, ids=args.ids or None)
        return await list_devices(registry.pool, f, limit=100_000, offset=0)

    _, rows = _run(settings, kinds, work)
    if not rows:
        print("no such devices", file=sys.stderr)
        return 1
    names = {k.name: k.label for k in kinds.values()}
    if len(rows) == 1 and not args.batch:
        r = rows[0]
        out = Path(args.output or f"{r.id}.{'png' if args.png else 'svg'}")
        if args.png:
            out.write_bytes(labels.label_png(r.id))
        else:
            out.write_text(labels.label_svg(r, names.get(r.kind, r.kind)))
    else:
        out = Path(args.output or f"labels-{args.batch or 'sheet'}.html")
        out.write_text(labels.sheet_html(str(out), labels.sheet_pages(rows, names)))
    print(f"wrote {out} ({len(rows)} label{'s' if len(rows) > 1 else ''})")
    return 0


def cmd_decommission(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    async def work(registry: Any) -> Any:
        return await registry.change_status(
            args.id, "decommissioned", actor=actor(), note=args.note
        )

    r = _run(settings, kinds, work)
    print(f"{r.id} is decommissioned; its MQTT credentials are revoked")
    return 0


def cmd_rotate(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    async def work(registry: Any) -> Any:
        issued = await registry.rotate(args.id, actor=actor())
        from core.storage.registry import get_record

        return issued, await get_record(registry.pool, args.id)

    issued, record = _run(settings, kinds, work)
    _print_credentials(record.id, record.kind, issued.password, settings.topic_root)
    return 0


def cmd_broker_sync(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from devices.broker_auth import sync_broker_auth

    if settings.broker_auth_dir is None:
        raise UsageError("set CITYSENSE_BROKER_AUTH_DIR to where Mosquitto reads its auth files")

    if args.watch:
        import signal

        from devices.broker_auth import watch_broker_auth

        async def watch(registry: Any) -> Any:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await watch_broker_auth(registry.pool, settings, stop, interval=args.interval)

        _run(settings, kinds, watch)
        return 0

    async def work(registry: Any) -> Any:
        return await sync_broker_auth(registry.pool, settings)

    n = _run(settings, kinds, work)
    print(f"wrote broker auth for {n} devices to {settings.broker_auth_dir}")
    return 0


def cmd_broker_config(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from citysense.local.mosquitto import broker_config
    from devices.broker_auth import AuthPaths, mosquitto_directives

    directory = args.auth_dir or settings.broker_auth_dir
    if directory is None:
        raise UsageError("give --auth-dir or set CITYSENSE_BROKER_AUTH_DIR")
    sys.stdout.write(
        broker_config(
            port=args.port,
            bind=args.bind,
            allow_anonymous=False,
            max_payload_bytes=settings.ingest_max_payload_bytes,
            extra=mosquitto_directives(AuthPaths(Path(directory))),
        )
    )
    return 0


def _filters(p: argparse.ArgumentParser, kinds: list[str], statuses: list[str]) -> None:
    p.add_argument("--kind", choices=kinds, help="only devices of this kind")
    p.add_argument(
        "--district", help="only devices in this district (kecamatan), e.g. Lawang Kidul"
    )
    p.add_argument("--status", choices=statuses, help="only devices in this lifecycle status")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from core.kinds import builtin_kinds
    from devices.lifecycle import INITIAL, Status

    kinds = list(builtin_kinds())
    statuses = [s.value for s in Status]
    dev = sub.add_parser("devices", help="the device registry").add_subparsers(
        dest="devices_command", required=True, metavar="COMMAND"
    )
    reg = dev.add_parser("register", help="register one device and print its MQTT credentials")
    reg.add_argument("id", help="the label on the device, e.g. PJU-ME-0001")
    reg.add_argument("--kind", required=True, choices=kinds, help="what the device is")
    reg.add_argument(
        "--district", required=True, help="district (kecamatan) it stands in, e.g. Muara Enim"
    )
    reg.add_argument("--name", help="a name people recognise, e.g. 'PJU Jl. Sudirman 12'")
    reg.add_argument("--village", help="village (desa/kelurahan)")
    reg.add_argument("--lat", metavar="DEG", help="latitude, decimal degrees (e.g. -3.66)")
    reg.add_argument("--lon", metavar="DEG", help="longitude, decimal degrees (e.g. 103.78)")
    reg.add_argument(
        "--status",
        default="planned",
        choices=[s.value for s in Status if s in INITIAL],
        help="where it is in its life (default planned)",
    )
    reg.add_argument("--install-date", metavar="YYYY-MM-DD", help="when it was installed")
    reg.add_argument("--uplink", help="id of the network node it reports through")
    reg.add_argument("--model", help="id of a registered device model")
    reg.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="mounting detail or threshold"
    )
    reg.set_defaults(func=_registry_error(cmd_register), needs=("db",))

    ls = dev.add_parser("list", help="list devices (tab-separated)")
    _filters(ls, kinds, statuses)
    ls.add_argument("--q", metavar="TEXT", help="search ids and names")
    ls.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    ls.add_argument("--offset", type=int, default=0, help="skip this many first (paging)")
    ls.set_defaults(func=cmd_list, needs=("db",))

    imp = dev.add_parser("import", help="bulk-register from CSV; checks the whole file first")
    imp.add_argument("file", help="CSV with the export's columns (',' or ';' separated)")
    imp.add_argument("--import-good", action="store_true", help="import good rows despite errors")
    imp.add_argument("--batch", help="batch name (for the label sheet); default import-<time>")
    imp.add_argument("--credentials-out", help="CSV for the new credentials")
    imp.set_defaults(func=_registry_error(cmd_import), needs=("db",))

    exp = dev.add_parser("export", help="export devices as CSV (the import's columns)")
    _filters(exp, kinds, statuses)
    exp.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    exp.add_argument("--semicolon", action="store_true", help="';' separators for Excel (id-ID)")
    exp.set_defaults(func=cmd_export, needs=("db",))

    lab = dev.add_parser("label", help="QR label (SVG/PNG) of a device, or a sheet of a batch")
    lab.add_argument("ids", nargs="*", help="device ids (one id: a single label)")
    lab.add_argument("--batch", help="a sheet of every device of an import batch")
    lab.add_argument("--png", action="store_true", help="a single label as PNG instead of SVG")
    lab.add_argument(
        "-o", "--output", metavar="FILE", help="default <ID>.svg, or labels-<BATCH>.html"
    )
    lab.set_defaults(func=cmd_label, needs=("db",))

    dec = dev.add_parser("decommission", help="retire a device and revoke its credentials")
    dec.add_argument("id", help="the device's id")
    dec.add_argument("--note", help="why, for the device's journal")
    dec.set_defaults(func=_registry_error(cmd_decommission), needs=("db",))

    rot = dev.add_parser("rotate-credentials", help="issue a new MQTT password")
    rot.add_argument("id", help="the device's id")
    rot.set_defaults(func=_registry_error(cmd_rotate), needs=("db",))

    bs = dev.add_parser(
        "broker-sync", help="rewrite Mosquitto's password/ACL files from the registry and reload"
    )
    bs.add_argument("--watch", action="store_true", help="keep resyncing when credentials change")
    bs.add_argument("--interval", type=float, default=2.0, help="seconds between checks")
    bs.set_defaults(func=cmd_broker_sync, needs=("db",))
    bc = dev.add_parser("broker-config", help="print a Mosquitto config that enforces the registry")
    bc.add_argument(
        "--auth-dir", help="where the auth files are (default CITYSENSE_BROKER_AUTH_DIR)"
    )
    bc.add_argument("--port", type=int, default=1883, help="listener port (default 1883)")
    bc.add_argument("--bind", default="0.0.0.0", help="listener address (default 0.0.0.0)")
    bc.set_defaults(func=cmd_broker_config)
