"""Finding registered devices by their LoRaWAN DevEUI (a mounting detail)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class LoraDevice:
    id: str
    kind: str
    model_id: str | None
    dev_eui: str
    """Lower-case hex."""


async def devices_by_dev_eui(
    pool: asyncpg.Pool, dev_euis: Sequence[str]
) -> dict[str, list[LoraDevice]]:
    """Devices per (lower-case) DevEUI: the mounting detail, or a device whose id is the
    DevEUI (what claiming an unknown DevEUI from the claim list registers). More than one
    device per DevEUI is a registry mistake the caller reports."""
    rows = await pool.fetch(
        "SELECT id, kind, model_id, lower(coalesce(mounting->>'dev_eui', id)) AS dev_eui"
        " FROM devices WHERE (mounting ? 'dev_eui'"
        " AND lower(mounting->>'dev_eui') = ANY($1::text[])) OR lower(id) = ANY($1::text[])",
        list(dev_euis),
    )
    out: dict[str, list[LoraDevice]] = {}
    for r in rows:
        d = LoraDevice(r["id"], r["kind"], r["model_id"], r["dev_eui"])
        out.setdefault(d.dev_eui, []).append(d)
    return out


async def devices_with_eui(pool: asyncpg.Pool, ids: Sequence[str]) -> dict[str, LoraDevice]:
    """The devices among ``ids`` that carry a DevEUI, by id."""
    rows = await pool.fetch(
        "SELECT id, kind, model_id, lower(mounting->>'dev_eui') AS dev_eui FROM devices"
        " WHERE id = ANY($1::text[]) AND mounting ? 'dev_eui'",
        list(ids),
    )
    return {r["id"]: LoraDevice(r["id"], r["kind"], r["model_id"], r["dev_eui"]) for r in rows}
