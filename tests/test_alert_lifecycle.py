"""The alert lifecycle table, the vocabulary against the SQL CHECK lists, priority by
consequence, message templates, and the flood episode's deadband and dwell (no database
except for the CHECK comparison)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from alerts.config import FloodThresholds
from alerts.levels import GaugeState, step
from alerts.lifecycle import TRANSITIONS, Effect, TransitionError, apply
from alerts.messages import TEMPLATES, render
from alerts.policy import POLICIES, priority_of
from alerts.vocabulary import (
    LABELS,
    STORED_STATES,
    AlertEvent,
    AlertState,
    FloodLevel,
    Priority,
    Rule,
)

S, E = AlertState, AlertEvent
ALLOWED = {
    (S.NORMAL, E.RAISE): S.ACTIVE,
    (S.ACTIVE, E.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.RETURNED, E.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.ACTIVE, E.SHELVE): S.SHELVED,
    (S.ACKNOWLEDGED, E.SHELVE): S.SHELVED,
    (S.RETURNED, E.SHELVE): S.SHELVED,
    (S.SHELVED, E.UNSHELVE): S.RETURNED,
    **{(s, E.ESCALATE): S.ACTIVE for s in (S.ACTIVE, S.ACKNOWLEDGED, S.SHELVED, S.RETURNED)},
    **{(s, E.DEESCALATE): s for s in (S.ACTIVE, S.ACKNOWLEDGED, S.SHELVED, S.RETURNED)},
    **{(s, E.UPDATE): s for s in (S.ACTIVE, S.ACKNOWLEDGED, S.SHELVED, S.RETURNED)},
    **{(s, E.CLEAR): S.RESOLVED for s in (S.ACTIVE, S.ACKNOWLEDGED, S.SHELVED, S.RETURNED)},
    **{(s, E.RESOLVE): S.RESOLVED for s in (S.ACTIVE, S.ACKNOWLEDGED, S.SHELVED, S.RETURNED)},
}


@pytest.mark.parametrize("state", list(AlertState))
@pytest.mark.parametrize("event", list(AlertEvent))
def test_every_state_event_pair_is_allowed_only_as_the_table_says(
    state: AlertState, event: AlertEvent
) -> None:
    if (state, event) in ALLOWED:
        move = apply(state, event)
        assert move.after is ALLOWED[(state, event)]
        assert Effect.ANNOUNCE in move.effects
    else:
        with pytest.raises(TransitionError) as err:
            apply(state, event)
        assert state.value in str(err.value)
        assert event.value in str(err.value)
    assert set(TRANSITIONS) == set(ALLOWED)


def test_a_resolved_alert_says_it_takes_nothing_more() -> None:
    with pytest.raises(TransitionError, match="nothing"):
        apply(S.RESOLVED, E.ACKNOWLEDGE)


def _check_values(definition: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", definition))


@pytest.mark.anyio
async def test_sql_check_lists_name_exactly_the_vocabulary(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def"
        " FROM pg_constraint WHERE contype = 'c' AND conrelid::regclass::text"
        " IN ('alerts', 'alert_events', 'flood_levels')"
    )
    checks = {(r["tbl"], r["conname"]): _check_values(r["def"]) for r in rows}
    stored = {s.value for s in STORED_STATES}
    assert checks[("alerts", "alerts_status_check")] == stored
    assert checks[("alerts", "alerts_priority_check")] == {p.value for p in Priority}
    assert checks[("alerts", "alerts_level_check")] == {lv.value for lv in FloodLevel}
    assert checks[("alerts", "alerts_severity_check")] == {"info", "warning", "critical"}
    assert checks[("flood_levels", "flood_levels_level_check")] == {lv.value for lv in FloodLevel}
    assert checks[("alert_events", "alert_events_event_check")] == {e.value for e in AlertEvent}
    assert checks[("alert_events", "alert_events_from_status_check")] == {
        s.value for s in AlertState
    }
    assert checks[("alert_events", "alert_events_priority_check")] == {p.value for p in Priority}


def test_every_rule_state_priority_and_level_has_both_labels_and_a_policy() -> None:
    for enum in (AlertState, Priority, FloodLevel, Rule):
        for m in enum:
            ind, eng = LABELS[m]
            assert ind
            assert eng
    assert set(POLICIES) == set(Rule)


def test_priority_follows_consequence() -> None:
    awas = priority_of(Rule.FLOOD_LEVEL, level=FloodLevel.AWAS)
    siaga = priority_of(Rule.FLOOD_LEVEL, level=FloodLevel.SIAGA)
    waspada = priority_of(Rule.FLOOD_LEVEL, level=FloodLevel.WASPADA)
    big_feeder = priority_of(Rule.FEEDER_OUTAGE, affected=40)
    small_node = priority_of(Rule.NODE_DOWN, affected=3)
    lamp = priority_of(Rule.LAMP_FAILURE)
    latency = priority_of(Rule.NODE_LATENCY)
    assert awas[0] is Priority.URGENT
    assert siaga[0] is Priority.HIGH
    ranks = [awas, siaga, big_feeder, small_node, waspada, lamp, latency]
    assert [r for _, r in ranks] == sorted((r for _, r in ranks), reverse=True)
    assert len({r for _, r in ranks}) == len(ranks)


def test_every_template_renders_in_bahasa_and_english_with_wib_times() -> None:
    t = datetime(2026, 12, 5, 18, 45, tzinfo=UTC)
    facts = {
        "name": "Sukaraja",
        "level": "SIAGA",
        "value": 1234.5,
        "time": t,
        "threshold": 400.0,
        "peak": 1300.0,
        "peak_time": t,
        "rate": 60.0,
        "limit": 50.0,
        "avg": 120.0,
        "window": 60.0,
        "device": "X-1",
        "since": t,
        "behind_count": 3,
        "cause": "NODE-1",
        "count": 7,
        "newest": t,
        "feeder": "F1",
        "dark": 6,
        "of": 8,
    }
    for rule, variant in TEMPLATES:
        ind, eng = render(rule, facts, tz="Asia/Jakarta", variant=variant)
        assert ind != eng
        assert "+00:00" not in ind
        assert "T18:45" not in ind
    ind, eng = render(Rule.FLOOD_LEVEL, facts, tz="Asia/Jakarta")
    assert "06/12 01:45 WIB" in ind
    assert "1.234,5" not in ind
    assert "tinggi muka air 1.234 cm" in ind or "tinggi muka air 1.235 cm" in ind
    assert "water level 1,234 cm" in eng or "water level 1,235 cm" in eng


TH = FloodThresholds(waspada=100, siaga=200, awas=300, hysteresis_cm=10, dwell_min=20)
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _run(readings: list[tuple[float, float]], th: FloodThresholds = TH) -> list[FloodLevel]:
    state, out = GaugeState(), []
    for minute, value in readings:
        state = step(state, value, T0 + timedelta(minutes=minute), th)
        out.append(state.level)
    return out


def test_flood_escalates_at_once_but_one_low_reading_never_ends_it() -> None:
    levels = _run([(0, 150), (5, 250), (10, 350), (15, 40), (20, 360), (25, 40)])
    assert levels[:3] == [FloodLevel.WASPADA, FloodLevel.SIAGA, FloodLevel.AWAS]
    assert levels[3:] == [FloodLevel.AWAS] * 3


def test_two_mixed_feeds_do_not_make_the_level_chatter() -> None:
    readings = [(m, 600.0 if m % 2 else 236.0) for m in range(0, 120)]
    levels = _run(readings)
    assert set(levels[1:]) == {FloodLevel.AWAS}


def test_flood_steps_down_after_the_dwell_and_ends_after_the_dwell() -> None:
    levels = _run([(0, 350), (5, 250), (15, 250), (25, 250), (30, 40), (45, 40), (50, 40)])
    assert levels == [
        FloodLevel.AWAS,
        FloodLevel.AWAS,
        FloodLevel.AWAS,
        FloodLevel.SIAGA,  # 20 min below AWAS - deadband
        FloodLevel.SIAGA,
        FloodLevel.SIAGA,
        FloodLevel.NORMAL,  # 20 min at NORMAL
    ]


def test_deadband_holds_a_level_just_below_its_threshold() -> None:
    levels = _run([(0, 305), (10, 295), (40, 295), (80, 291)])
    assert levels == [FloodLevel.AWAS] * 4


def test_older_readings_from_a_backlog_never_move_the_level() -> None:
    levels = _run([(30, 350), (0, 40), (10, 40), (20, 40)])
    assert levels == [FloodLevel.AWAS] * 4
