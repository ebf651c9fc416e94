"""Bulk import: check the whole file, report every bad line, write all-or-good-only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.storage.registry import existing_kinds
from devices.csv_io import ImportPlan, LineError, add_field_errors, parse_csv
from devices.model import FieldError, validate_device
from devices.registry import Issued, Registry


@dataclass(slots=True)
class ImportResult:
    rows: int
    imported: int
    errors: list[LineError]
    credentials: list[Issued] = field(default_factory=list)
    batch: str | None = None

    @property
    def message(self) -> str:
        if not self.errors:
            return f"imported {self.imported} of {self.rows} devices"
        bad = len({e.line for e in self.errors})
        if self.imported:
            return f"imported {self.imported} good rows; skipped {bad} lines with errors"
        return (
            f"nothing imported: {len(self.errors)} problems on {bad} lines; fix them, or"
            " import only the good rows (import_good=true / --import-good)"
        )


async def plan_import(registry: Registry, data: bytes) -> ImportPlan:
    parsed = parse_csv(data)
    plan = ImportPlan(errors=list(parsed.errors), rows=len(parsed.rows))
    first_line: dict[str, int] = {}
    candidates = []
    for line, values in parsed.rows:
        raw_id = values.get("id", "").strip()
        if raw_id and raw_id in first_line:
            add_field_errors(
                plan,
                line,
                [FieldError("id", f"{raw_id!r} is also on line {first_line[raw_id]}; keep one")],
            )
            continue
        if raw_id:
            first_line[raw_id] = line
        device, errors = validate_device(values, region=registry.region, kinds=registry.kinds)
        if device is None:
            add_field_errors(plan, line, errors)
        else:
            candidates.append((line, device))
    refs = await registry.check_references([d for _, d in candidates])
    good = []
    for i, (line, d) in enumerate(candidates):
        if i in refs.by_index:
            add_field_errors(plan, line, refs.by_index[i])
        else:
            good.append((line, d))
    # A device whose uplink sits on a bad line cannot be imported either.
    line_of = {d.id: line for line, d in candidates}
    good_ids = {d.id for _, d in good}
    registered = set(await registry_existing(registry, [d.uplink_id for _, d in good]))
    changed = True
    while changed:
        changed = False
        for line, d in list(good):
            up = d.uplink_id
            if up and up not in good_ids and up not in registered:
                where = f"line {line_of[up]}" if up in line_of else "a bad line"
                add_field_errors(
                    plan,
                    line,
                    [FieldError("uplink_id", f"uplink {up!r} is on {where}, which has errors")],
                )
                good.remove((line, d))
                good_ids.discard(d.id)
                changed = True
    plan.good = good
    plan.errors.sort(key=lambda e: e.line)
    return plan


async def registry_existing(registry: Registry, ids: list[str | None]) -> list[str]:
    return list(await existing_kinds(registry.pool, [i for i in ids if i]))


async def run_import(
    registry: Registry,
    data: bytes,
    *,
    actor: str,
    import_good: bool,
    batch: str,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    plan = await plan_import(registry, data)
    result = ImportResult(rows=plan.rows, imported=0, errors=plan.errors)
    if (plan.errors and not import_good) or not plan.good:
        return result
    result.credentials = await registry.insert(
        [d for _, d in plan.good], actor=actor, action="imported", batch=batch, progress=progress
    )
    result.imported = len(plan.good)
    result.batch = batch
    return result
