"""The registry's actions: register, edit, move, change status, note, rotate, import.

Each action validates first, then writes device, journal and credentials in one
transaction, then regenerates the broker's files so the change takes effect at once.
The API, the CLI and the benchmark all go through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from core.broker_accounts import RESERVED_PREFIX, is_reserved_username
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage import registry as store
from core.storage.registry import DeviceRecord, NewDevice
from devices.broker_auth import sync_broker_auth
from devices.credentials import mosquitto_hash, new_password
from devices.lifecycle import Status, TransitionError, check_transition
from devices.model import EDITABLE, DeviceInput, FieldError, validate_device
from devices.mounting import UPLINK_KIND
from devices.region import Region

log = logging.getLogger(__name__)


class RegistryError(Exception):
    """A request the registry refuses; ``status`` is the HTTP status that fits."""

    def __init__(self, status: int, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class Issued:
    """MQTT credentials in clear: shown once, never stored."""

    device_id: str
    username: str
    password: str


@dataclass(slots=True)
class ReferenceErrors:
    by_index: dict[int, list[FieldError]] = field(default_factory=dict)

    def add(self, index: int, err: FieldError) -> None:
        self.by_index.setdefault(index, []).append(err)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _record_as_input(r: DeviceRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "name": r.name,
        "status": r.status,
        "district": r.district,
        "village": r.village,
        "latitude": r.latitude,
        "longitude": r.longitude,
        "model_id": r.model_id,
        "install_date": r.install_date,
        "uplink_id": r.uplink_id,
        "mounting": dict(r.mounting),
        "waspada_cm": r.waspada_cm,
        "siaga_cm": r.siaga_cm,
        "awas_cm": r.awas_cm,
    }


LOCATION = frozenset({"district", "village", "latitude", "longitude"})


class Registry:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, kinds: KindRegistry, region: Region
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.kinds = kinds
        self.region = region

    def validate(self, raw: Mapping[str, object]) -> DeviceInput:
        device, errors = validate_device(raw, region=self.region, kinds=self.kinds)
        if device is None:
            raise RegistryError(422, "; ".join(map(str, errors)), errors)
        return device

    async def check_references(
        self, devices: Sequence[DeviceInput], conn: Any | None = None
    ) -> ReferenceErrors:
        """Errors that need the database: duplicate ids, unknown models and uplinks."""
        db = conn or self.pool
        out = ReferenceErrors()
        ids = [d.id for d in devices]
        uplinks = sorted({d.uplink_id for d in devices if d.uplink_id})
        existing = await store.existing_kinds(db, [*ids, *uplinks])
        models = {m.id: m for m in await store.list_models(db)}
        in_batch = {d.id: d.kind for d in devices}
        for i, d in enumerate(devices):
            if is_reserved_username(self.settings, d.id):
                out.add(
                    i,
                    FieldError(
                        "id",
                        f"{d.id!r} is reserved for the platform's own broker accounts (ids may"
                        f" not start with {RESERVED_PREFIX!r}); use another label",
                    ),
                )
            if d.id in existing:
                out.add(
                    i,
                    FieldError(
                        "id",
                        f"device {d.id!r} is already registered; edit it instead, or use"
                        " another label",
                    ),
                )
            if d.model_id is not None:
                m = models.get(d.model_id)
                if m is None:
                    out.add(
                        i,
                        FieldError(
                            "model_id",
                            f"unknown model {d.model_id!r}; register it first or leave empty",
                        ),
                    )
                elif m.kind != d.kind:
                    out.add(
                        i, FieldError("model_id", f"{m.id!r} is a {m.kind} model, not {d.kind}")
                    )
            if d.uplink_id is not None:
                kind = existing.get(d.uplink_id) or in_batch.get(d.uplink_id)
                if kind is None:
                    out.add(
                        i,
                        FieldError(
                            "uplink_id",
                            f"uplink {d.uplink_id!r} is not registered; register the network"
                            " node first or leave empty",
                        ),
                    )
                elif kind != UPLINK_KIND:
                    out.add(
                        i,
                        FieldError(
                            "uplink_id", f"uplink {d.uplink_id!r} is a {kind}, not a {UPLINK_KIND}"
                        ),
                    )
        return out

    async def _sync(self) -> None:
        try:
            await sync_broker_auth(self.pool, self.settings)
        except OSError as exc:  # the registry is right; the broker catches up on next sync
            log.error("broker auth files not written: %s", exc)

    async def register(
        self, raw: Mapping[str, object], *, actor: str, action: str = "registered"
    ) -> tuple[DeviceRecord, Issued]:
        device = self.validate(raw)
        issued = await self.insert([device], actor=actor, action=action, batch=None)
        record = await store.get_record(self.pool, device.id)
        assert record is not None
        return record, issued[0]

    async def insert(
        self,
        devices: Sequence[DeviceInput],
        *,
        actor: str,
        action: str,
        batch: str | None,
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 1000,
    ) -> list[Issued]:
        """Insert validated devices with fresh credentials, all or nothing."""
        issued: list[Issued] = []
        rows: list[NewDevice] = []
        for i, d in enumerate(devices):
            password = new_password()
            issued.append(Issued(d.id, d.id, password))
            rows.append(
                NewDevice(
                    **{k: v for k, v in d.as_dict().items()},
                    password_hash=mosquitto_hash(password),
                )
            )
            if progress and (i + 1) % chunk == 0:
                progress(chunk, len(devices))
        if progress and len(devices) % chunk:
            progress(len(devices) % chunk, len(devices))
        async with self.pool.acquire() as conn, conn.transaction():
            refs = await self.check_references(devices, conn)
            if refs.by_index:
                errors = [e for errs in refs.by_index.values() for e in errs]
                first = min(refs.by_index)
                status = 409 if any(e.field == "id" for e in errors) else 422
                raise RegistryError(
                    status,
                    f"{devices[first].id}: " + "; ".join(map(str, refs.by_index[first])),
                    errors,
                )
            try:
                await store.insert_devices(conn, rows, actor=actor, action=action, batch=batch)
            except asyncpg.UniqueViolationError:
                raise RegistryError(
                    409, "a device with one of these ids was registered meanwhile; retry"
                ) from None
        await self._sync()
        return issued

    async def update(
        self, device_id: str, patch: Mapping[str, object], *, actor: str
    ) -> DeviceRecord:
        unknown = set(patch) - set(EDITABLE) - {"id", "kind"}
        if "status" in unknown:
            raise RegistryError(
                422, f"status: change it with POST /devices/{device_id}/status (it is journalled)"
            )
        if unknown:
            raise RegistryError(
                422, f"cannot change {', '.join(sorted(unknown))}; editable: {', '.join(EDITABLE)}"
            )
        async with self.pool.acquire() as conn, conn.transaction():
            current = await self._locked(conn, device_id)
            for fixed in ("id", "kind"):
                if fixed in patch and patch[fixed] != getattr(current, fixed):
                    raise RegistryError(
                        422,
                        f"{fixed} cannot change (it is on the label); decommission this device"
                        " and register a new one",
                    )
            merged = _record_as_input(current)
            for k, v in patch.items():
                if k == "mounting" and isinstance(v, Mapping):
                    merged["mounting"] = {**merged["mounting"], **v}
                else:
                    merged[k] = v
            device, errors = validate_device(
                merged, region=self.region, kinds=self.kinds, new=False
            )
            if device is None:
                raise RegistryError(422, "; ".join(map(str, errors)), errors)
            refs = await self.check_references([device], conn)
            errs = [e for e in refs.by_index.get(0, []) if e.field != "id"]
            if errs:
                raise RegistryError(422, "; ".join(map(str, errs)), errs)
            new = device.as_dict()
            old = _record_as_input(current)
            changes = {k: [_plain(old[k]), _plain(new[k])] for k in EDITABLE if old[k] != new[k]}
            if changes:
                await store.update_device(conn, device_id, {k: new[k] for k in changes})
                action = "moved" if LOCATION & set(changes) else "updated"
                await store.add_journal(
                    conn, device_id, actor=actor, action=action, changes=changes
                )
        record = await store.get_record(self.pool, device_id)
        assert record is not None
        return record

    async def _locked(self, conn: Any, device_id: str) -> DeviceRecord:
        current = await store.get_record(conn, device_id, lock=True)
        if current is None:
            raise RegistryError(404, f"device {device_id!r} is not registered")
        return current

    async def change_status(
        self, device_id: str, target: str, *, actor: str, note: str | None = None
    ) -> DeviceRecord:
        async with self.pool.acquire() as conn, conn.transaction():
            current = await self._locked(conn, device_id)
            try:
                new = check_transition(current.status, target)
            except TransitionError as exc:
                raise RegistryError(
                    409, f"status: {exc}", [FieldError("status", str(exc))]
                ) from None
            if new in (Status.INSTALLED, Status.ACTIVE) and current.latitude is None:
                raise RegistryError(
                    422,
                    "latitude: set the device's location before it goes to " + new.value,
                )
            await store.update_device(conn, device_id, {"status": new.value})
            await store.add_journal(
                conn,
                device_id,
                actor=actor,
                action="status",
                changes={"status": [current.status, new.value]},
                note=note,
            )
            revoked = False
            if new is Status.DECOMMISSIONED:
                revoked = await store.revoke_credentials(conn, device_id)
                if revoked:
                    await store.add_journal(
                        conn, device_id, actor=actor, action="credentials_revoked"
                    )
        if revoked:
            await self._sync()
        record = await store.get_record(self.pool, device_id)
        assert record is not None
        return record

    async def add_note(self, device_id: str, note: str, *, actor: str) -> None:
        text = note.strip()
        if not text:
            raise RegistryError(422, "note: write something (it is kept in the journal)")
        async with self.pool.acquire() as conn, conn.transaction():
            await self._locked(conn, device_id)
            await store.add_journal(conn, device_id, actor=actor, action="note", note=text[:4000])

    async def rotate(self, device_id: str, *, actor: str) -> Issued:
        password = new_password()
        async with self.pool.acquire() as conn, conn.transaction():
            current = await self._locked(conn, device_id)
            if current.status == Status.DECOMMISSIONED.value:
                raise RegistryError(
                    409, f"device {device_id!r} is decommissioned; it gets no credentials"
                )
            await store.revoke_credentials(conn, device_id)
            await store.insert_credential(conn, device_id, mosquitto_hash(password))
            await store.add_journal(conn, device_id, actor=actor, action="credentials_rotated")
        await self._sync()
        return Issued(device_id, device_id, password)
