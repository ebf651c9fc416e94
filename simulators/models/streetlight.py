"""A PJU street light with a smart controller.

On near sunset and off near sunrise (each pole's photocell/timer a few minutes apart),
dimmed to 70 % from 22:00 to 04:30 WIB. Reports every 15 min while lit and hourly by day,
plus at once on every change. Energy is the integral of the reported power, so the
counter and the wattage agree. A failed lamp draws no power at night; a day-burner is lit
in daylight. When its feeder loses mains the controller sends a last-gasp reading (0 V,
dark) and stays silent until power returns.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from commands.schedules import Schedule, changes, wanted
from core.wire import Value
from simulators.fleet import SimDevice
from simulators.models import Item, at_or_after_boundary, next_boundary, rng_for
from simulators.solar import WIB, daylight, local_day, sun_times
from simulators.world import Conditions

LIT_INTERVAL_S = 900
DARK_INTERVAL_S = 3600
DIM_PCT = 70.0
DIM_FROM = (22, 0)
DIM_UNTIL = (4, 30)


class StreetlightModel:
    def __init__(
        self,
        device: SimDevice,
        seed: int,
        *,
        fail_at: datetime | None = None,
        day_burner: bool = False,
    ) -> None:
        self.device = device
        self.seed = seed
        rng = rng_for(seed, device.id, "init")
        self.rated_w = device.rated_w or 90.0
        self.on_jitter = timedelta(minutes=rng.uniform(-4, 8))
        self.off_jitter = timedelta(minutes=rng.uniform(-8, 4))
        self.energy_kwh = round(rng.uniform(50, 3000), 3)
        self.burning_h = round(self.energy_kwh / (self.rated_w / 1000) * rng.uniform(0.95, 1.1), 2)
        self.fail_at = fail_at
        self.day_burner = day_burner
        self._last_t: datetime | None = None
        self._last_power = 0.0
        self._lat = device.row.latitude or -3.66
        self._lon = device.row.longitude or 103.8
        self.mode = "auto"
        """Relay mode set by a ``switch`` command: on, off, or auto (its own schedule)."""
        self.dim_level: float | None = None
        """Dim level set by a ``dim`` command; None follows the built-in schedule."""
        self.schedule: Schedule | None = None
        """A platform dimming schedule the light follows (as its commands would make it)."""

    # -- commands -------------------------------------------------------------------

    def apply_command(self, command: str, args: dict[str, object]) -> str | None:
        """Carry out a command; None when done, else why it failed (the reply's detail)."""
        if command == "switch" and args.get("mode") in ("on", "off", "auto"):
            self.mode = str(args["mode"])
            return None
        level = args.get("level")
        if command == "dim" and isinstance(level, int | float) and 0 <= level <= 100:
            self.dim_level = float(level)
            return None
        return f"unsupported command {command!r} with {args!r}"

    # -- schedule -------------------------------------------------------------------

    def _switch_times(self, t: datetime) -> list[datetime]:
        day = local_day(t)
        out = []
        for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
            rise, set_ = sun_times(d, self._lat, self._lon)
            out += [rise + self.off_jitter, set_ + self.on_jitter]
            for h, m in (DIM_FROM, DIM_UNTIL):
                out.append(datetime(d.year, d.month, d.day, h, m, tzinfo=WIB))
        if self.schedule is not None:
            start = datetime(day.year, day.month, day.day, tzinfo=WIB) - timedelta(days=1)
            end = start + timedelta(days=3)
            out += [c for c, _ in changes(self.schedule, start, end, self._lat, self._lon)]
        return out

    def scheduled_on(self, t: datetime) -> bool:
        rise, set_ = sun_times(local_day(t), self._lat, self._lon)
        return t < rise + self.off_jitter or t >= set_ + self.on_jitter

    @staticmethod
    def dim_pct(t: datetime) -> float:
        loc = t.astimezone(WIB)
        hm = (loc.hour, loc.minute)
        return DIM_PCT if hm >= DIM_FROM or hm < DIM_UNTIL else 100.0

    def _changes(self, world: Conditions) -> list[datetime]:
        extra = world.boundaries(self.device)
        if self.fail_at is not None:
            extra.append(self.fail_at)
        return extra

    # -- model ----------------------------------------------------------------------

    def first_due(self, start: datetime) -> datetime:
        return start

    def state(self, t: datetime, world: Conditions) -> Item:
        rng = rng_for(self.seed, self.device.id, t.timestamp())
        if world.grid_outage(self.device, t) is not None:
            return {
                "power_state": "off",
                "dim_pct": 0.0,
                "active_power": 0.0,
                "voltage": 0.0,
                "current": 0.0,
                "power_factor": 0.0,
                "lamp_failure": False,
                "relay_failure": False,
                "day_burner": False,
            }
        sunny = daylight(t, self._lat, self._lon) > 0.1
        planned = None if self.schedule is None else wanted(self.schedule, t, self._lat, self._lon)
        relay = (self.mode == "on") or (
            self.mode == "auto"
            and (
                (self.scheduled_on(t) if self.schedule is None else planned is not None)
                or self.day_burner
            )
        )
        failed = self.fail_at is not None and t >= self.fail_at
        level = self.dim_pct(t) if planned is None else planned
        level = level if self.dim_level is None else self.dim_level
        dim = level if relay else 0.0
        hour = t.astimezone(WIB).hour
        voltage = 222.0 + rng.gauss(0, 2.0) - (6.0 if 18 <= hour < 22 else 0.0)
        if relay and not failed:
            power = self.rated_w * dim / 100 * (1 + rng.gauss(0, 0.012))
            pf = min(0.99, 0.955 + rng.gauss(0, 0.01))
        elif relay:
            power, pf = 0.8, 0.3  # controller only: the lamp draws nothing
        else:
            power, pf = 0.0, 0.0
        state: str = "off" if not relay else ("low" if dim < 100 else "on")
        return {
            "power_state": state,
            "dim_pct": round(dim, 1),
            "active_power": round(power, 2),
            "voltage": round(voltage, 1),
            "current": round(power / (voltage * pf), 3) if power > 0 and pf > 0 else 0.0,
            "power_factor": round(pf, 3),
            "lamp_failure": bool(failed and relay and not sunny),
            "relay_failure": bool(self.day_burner and relay and sunny),
            "day_burner": bool(relay and sunny and not failed),
        }

    def step(self, t: datetime, world: Conditions) -> tuple[list[Item], datetime]:
        values = self.state(t, world)
        if self._last_t is not None and t > self._last_t:
            hours = (t - self._last_t).total_seconds() / 3600
            self.energy_kwh += self._last_power * hours / 1000
            if self._last_power > 1.0:
                self.burning_h += hours
        self._last_t = t
        power = values["active_power"]
        assert isinstance(power, float)
        self._last_power = power
        rng = rng_for(self.seed, self.device.id, "temp", t.timestamp())
        ambient = 25.0 + 7.0 * daylight(t, self._lat, self._lon) + rng.gauss(0, 0.5)
        item: dict[str, Value | datetime] = {
            "ts": t,
            **values,
            "energy": round(self.energy_kwh, 4),
            "burning_hours": round(self.burning_h, 3),
            "driver_temp": round(ambient + 25.0 * power / self.rated_w, 1),
        }
        outage = world.grid_outage(self.device, t)
        if outage is not None:
            return [item], outage.window.end  # last gasp, then silence until mains return
        lit = values["power_state"] != "off"
        periodic = next_boundary(t, LIT_INTERVAL_S if lit else DARK_INTERVAL_S)
        changes = [c for c in (*self._switch_times(t), *self._changes(world)) if c > t]
        return [item], min([periodic, *changes])


def light_quirks(device: SimDevice, seed: int, start: datetime, end: datetime) -> dict[str, object]:
    """Which lights of a fleet are day-burners or have a lamp failing during the run."""
    rng = rng_for(seed, device.id, "quirks")
    span = min(end - start, timedelta(days=30))  # open-ended runs: the first month
    nights = max(1.0, span / timedelta(days=1))
    fail_at = None
    if rng.random() < 0.01 * nights:
        fail_at = at_or_after_boundary(start + span * rng.random(), 60)
    return {"fail_at": fail_at, "day_burner": rng.random() < 0.03}
