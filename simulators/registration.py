"""Register a simulated fleet as real devices, and retire it afterwards.

Each device goes through the device registry with every detail alerts and pages read
(:func:`simulators.fleet.registry_details`), in a batch named after its id prefix
(``simulate:<PREFIX>``). That batch is the ownership mark: a run refuses to touch a
device with one of its ids that some other batch (the ``up`` demo, an import, a person)
registered, and ``--cleanup PREFIX`` retires only the devices its batch holds. The batch
is also what marks the devices as simulated for the alert evaluator's clock
(:mod:`alerts.simclock`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from core.kinds import KindRegistry
from core.settings import Settings
from simulators.fleet import FleetError, SimDevice, registry_details

log = logging.getLogger(__name__)

SIMULATED_BATCH = "simulate:"
"""Every simulated device's registry batch starts with this (``alerts.simclock`` reads it)."""

ACTOR = "citysense simulate"


def batch_of(prefix: str) -> str:
    return f"{SIMULATED_BATCH}{prefix}"


@dataclass(frozen=True, slots=True)
class Registered:
    new: int
    updated: int


async def register_sim_fleet(
    pool: asyncpg.Pool,
    settings: Settings,
    kinds: KindRegistry,
    fleet: Sequence[SimDevice],
    prefix: str,
) -> Registered:
    """Register new devices; bring this prefix's earlier ones up to date; touch nothing else."""
    from core.storage.registry import DeviceFilter, list_devices
    from devices.region import load_region
    from devices.registry import Registry, RegistryError

    registry = Registry(pool, settings, kinds, load_region(settings.region_file))
    ids = [d.id for d in fleet]
    _, rows = await list_devices(pool, DeviceFilter(ids=ids), limit=len(ids) + 1, offset=0)
    existing = {r.id: r for r in rows}
    mine = batch_of(prefix)
    foreign = [r for r in rows if r.batch != mine]
    if foreign:
        r = foreign[0]
        owner = f"batch {r.batch!r}" if r.batch else "a registration outside simulate"
        raise FleetError(
            f"{len(foreign)} of these device ids are already registered by someone else"
            f" (e.g. {r.id}, from {owner}); a simulation never overwrites devices it did not"
            f" create: choose another --id-prefix than {prefix!r}"
        )
    retired = [r.id for r in rows if r.status == "decommissioned"]
    if retired:
        raise FleetError(
            f"{len(retired)} devices of prefix {prefix!r} were retired by --cleanup"
            f" (e.g. {retired[0]}); a decommissioned id is never reused: choose another"
            " --id-prefix"
        )
    details = [registry_details(d) for d in fleet]
    new = [registry.validate(d) for d in details if d["id"] not in existing]
    if new:
        await registry.insert(new, actor=ACTOR, action="registered", batch=mine)
    updated = 0
    for d in details:
        if d["id"] not in existing:
            continue
        patch = {k: v for k, v in d.items() if k not in ("id", "kind", "status")}
        try:
            await registry.update(d["id"], patch, actor=ACTOR)
            updated += 1
        except RegistryError as exc:
            log.warning("simulated device %s keeps its registry details: %s", d["id"], exc)
    return Registered(new=len(new), updated=updated)


async def cleanup(pool: asyncpg.Pool, settings: Settings, kinds: KindRegistry, prefix: str) -> int:
    """Decommission (and so revoke the credentials of) every device a run with ``prefix`` made.

    Only devices in the prefix's simulation batch are touched; their readings stay, as a
    real device's do when it is retired.
    """
    from core.storage.registry import DeviceFilter, list_devices
    from devices.region import load_region
    from devices.registry import Registry

    registry = Registry(pool, settings, kinds, load_region(settings.region_file))
    _, rows = await list_devices(
        pool, DeviceFilter(batch=batch_of(prefix)), limit=1_000_000, offset=0
    )
    done = 0
    for r in rows:
        if r.status == "decommissioned":
            continue
        await registry.change_status(
            r.id, "decommissioned", actor=ACTOR, note=f"simulate --cleanup {prefix}"
        )
        done += 1
    return done
