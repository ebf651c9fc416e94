"""The demo fleet: simulated Muara Enim devices publishing over the real wire contract.

Everything ``citysense up`` needs from :mod:`simulators` goes through :func:`start_demo`,
so the simulators can change behind this one function.

The fleet is registered through the device registry with the details alerts and the
dashboards read: each gauge's station and WASPADA / SIAGA / AWAS thresholds, each light's
feeder and uplink node. One gauge (:data:`DRILL_NOTE`) is registered with thresholds
below its river's everyday level, so the ops page shows a live flood alert out of the box.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from core.kinds import KindRegistry
from core.settings import Settings

if TYPE_CHECKING:
    from simulators.fleet import SimDevice

log = logging.getLogger("citysense.up")

DRILL_NOTE = "demo drill: thresholds set below the everyday level, so a WASPADA alert is open"
DRILL_BELOW_CM = 40.0
"""The drill gauge's WASPADA threshold sits this far below its station's everyday level."""


@dataclass(frozen=True, slots=True)
class Demo:
    thread: threading.Thread
    ids: list[str]
    drill_gauge: str | None


DEMO_PREFIX = "DEMO"
"""The demo fleet's id prefix; ``citysense simulate`` uses others, so the two never collide."""


def registry_details(dev: SimDevice, *, drill: bool = False) -> dict[str, Any]:
    """What the registry keeps of a demo device (the drill gauge's thresholds lowered)."""
    from simulators.fleet import registry_details as details

    raw = details(dev)
    st = dev.station
    if drill and st is not None:
        w = st.base_cm - DRILL_BELOW_CM
        raw |= {"waspada_cm": w, "siaga_cm": max(st.siaga_cm, w + 100)}
        raw["awas_cm"] = max(st.awas_cm, w + 200)
    return raw


async def register_fleet(
    settings: Settings, kinds: KindRegistry, pool: asyncpg.Pool, fleet: Sequence[SimDevice]
) -> str | None:
    """Register new devices and bring existing ones' details up to date; the drill gauge's id.

    Idempotent: a second ``citysense up`` on the same data finds its devices and changes
    nothing (the registry journals only real changes).
    """
    from core.storage.registry import existing_kinds
    from devices.region import load_region
    from devices.registry import Registry, RegistryError

    registry = Registry(pool, settings, kinds, load_region(settings.region_file))
    gauges = [d.id for d in fleet if d.station is not None]
    drill = gauges[0] if gauges else None
    details = [registry_details(d, drill=d.id == drill) for d in fleet]
    known = await existing_kinds(pool, [d["id"] for d in details])
    new = [registry.validate(d) for d in details if d["id"] not in known]
    if new:
        await registry.insert(new, actor="citysense up", action="registered", batch="demo")
    for d in details:
        if d["id"] not in known:
            continue
        patch = {k: v for k, v in d.items() if k not in ("id", "kind", "status")}
        try:
            await registry.update(d["id"], patch, actor="citysense up")
        except RegistryError as exc:
            log.warning("demo device %s keeps its registry details: %s", d["id"], exc)
    return drill


async def start_demo(
    settings: Settings,
    kinds: KindRegistry,
    pool: asyncpg.Pool,
    stop: threading.Event,
    *,
    per_kind: int,
    interval_s: float,
) -> Demo:
    """Register the fleet, then publish from a thread until ``stop``."""
    from simulators.fleet import FleetError, FleetSpec, build_sim_fleet
    from simulators.publisher import run

    if per_kind < 1:
        raise FleetError(f"--per-kind must be at least 1, got {per_kind}")
    fleet = build_sim_fleet(
        kinds, FleetSpec({k: per_kind for k in kinds}, id_prefix=DEMO_PREFIX, where=""), seed=1
    )
    drill = await register_fleet(settings, kinds, pool, fleet)
    thread = threading.Thread(
        target=run,
        args=(settings, kinds, fleet),
        kwargs={
            "interval_s": interval_s,
            "rounds": None,
            "seed": 1,
            "stop": stop,
            "follow_commands": True,
        },
        name="citysense-demo",
        daemon=True,
    )
    thread.start()
    return Demo(thread, [d.id for d in fleet], drill)
