"""Street lights' energy per night, and what dimming saved against full brightness."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.auth import Reader
from api.deps import PoolDep
from api.models import Problem
from core.storage.energy import night_energy

router = APIRouter(tags=["energy"])
WIB = ZoneInfo("Asia/Jakarta")
MAX_NIGHTS = 62
MAX_ROWS = 20_000


class NightEnergyOut(BaseModel):
    key: str = Field(description="Device id, feeder or district.")
    night: date = Field(description="The night's first date (nights run 12:00-12:00 WIB).")
    kwh: float = Field(description="Energy used [kWh], from the hourly mean power.")
    kwh_full: float = Field(description="The same lit hours at full brightness [kWh].")
    saving_pct: float | None = Field(description="1 - kwh / kwh_full, in %.")
    lights: int


class EnergyOut(BaseModel):
    group: str
    nights: list[NightEnergyOut]
    truncated: bool


@router.get("/energy", response_model=EnergyOut, responses={422: {"model": Problem}})
async def energy(
    pool: PoolDep,
    _: Reader,
    start: Annotated[date, Query(alias="from", description="First night (WIB date).")],
    end: Annotated[
        date | None, Query(alias="to", description="Last night (default: from).")
    ] = None,
    group: Annotated[Literal["device", "feeder", "district"], Query()] = "feeder",
) -> EnergyOut:
    """kWh per light, feeder or district per night, with the saving against full brightness."""
    last = end or start
    if last < start or (last - start).days >= MAX_NIGHTS:
        raise HTTPException(422, f"to must be on or after from, at most {MAX_NIGHTS} nights")
    if start.year < 2000 or last.year > 2100:
        raise HTTPException(422, "dates must be between 2000 and 2100")
    t0 = datetime.combine(start, time(12), WIB).astimezone(UTC)
    t1 = datetime.combine(last + timedelta(days=1), time(12), WIB).astimezone(UTC)
    rows = await night_energy(pool, start=t0, end=t1, group=group, limit=MAX_ROWS + 1)
    out = [
        NightEnergyOut(key=r.key, night=r.night, kwh=r.kwh, kwh_full=r.kwh_full,
                       saving_pct=r.saving_pct, lights=r.lights)
        for r in rows[:MAX_ROWS]
    ]  # fmt: skip
    return EnergyOut(group=group, nights=out, truncated=len(rows) > MAX_ROWS)
