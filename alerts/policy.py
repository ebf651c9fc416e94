"""Priority by consequence, as data: which priority each rule's alarm gets and how the list
orders alarms within a priority.

Order, highest first: AWAS; SIAGA; outages by how many devices (and so people) are behind
them (a dark feeder, a dead node, many devices' data late at once); WASPADA and a fast rise;
then equipment warnings (one silent device, one dark lamp, latency, loss, a day-burner).

``rank`` is the list's sort key: priority, then band within the priority, then the number
of devices affected (so a feeder with 40 dark lamps sorts above one with 6).
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.vocabulary import FloodLevel, Priority, Rule


@dataclass(frozen=True, slots=True)
class RulePolicy:
    rule: Rule
    priority: Priority
    band: int
    """Order within the priority: a higher band sorts first."""
    grouping: str
    """What one alarm of this rule stands for (its subject). Which alarms cover which is
    still decided inside the rules (node_down covers device_offline in the evaluator,
    feeder_outage covers lamp_failure in alerts/lights.py)."""


POLICIES: dict[Rule, RulePolicy] = {
    p.rule: p
    for p in (
        RulePolicy(Rule.FEEDER_OUTAGE, Priority.MEDIUM, 2, "one feeder"),
        RulePolicy(Rule.NODE_DOWN, Priority.MEDIUM, 2, "one network node"),
        RulePolicy(Rule.STALE_DATA, Priority.MEDIUM, 2, "one cause: ingest or an uplink"),
        RulePolicy(Rule.FLOOD_RISE, Priority.MEDIUM, 1, "one gauge"),
        RulePolicy(Rule.DEVICE_OFFLINE, Priority.LOW, 1, "one device"),
        RulePolicy(Rule.LAMP_FAILURE, Priority.LOW, 1, "one lamp"),
        RulePolicy(Rule.NODE_LATENCY, Priority.LOW, 0, "one node"),
        RulePolicy(Rule.NODE_LOSS, Priority.LOW, 0, "one node"),
        RulePolicy(Rule.DAY_BURNER, Priority.LOW, 0, "one lamp"),
        RulePolicy(Rule.SCHEDULE_NOT_FOLLOWED, Priority.LOW, 0, "one lamp"),
        RulePolicy(Rule.FLOOD_LEVEL, Priority.MEDIUM, 1, "one gauge, one flood episode"),
    )
}

FLOOD_PRIORITY: dict[FloodLevel, tuple[Priority, int]] = {
    FloodLevel.AWAS: (Priority.URGENT, 1),
    FloodLevel.SIAGA: (Priority.HIGH, 1),
    FloodLevel.WASPADA: (Priority.MEDIUM, 1),
}

_AFFECTED_CAP = 999_999


def rank_of(priority: Priority, band: int, affected: int = 1) -> int:
    """The list's sort key (higher first)."""
    return priority.order * 10**8 + band * 10**6 + min(max(affected, 0), _AFFECTED_CAP)


def priority_of(
    rule: Rule, *, level: FloodLevel | None = None, affected: int = 1
) -> tuple[Priority, int]:
    """(priority, rank) of an alarm of ``rule`` (at flood ``level``, affecting N devices)."""
    if rule is Rule.FLOOD_LEVEL and level is not None and level in FLOOD_PRIORITY:
        prio, band = FLOOD_PRIORITY[level]
    else:
        p = POLICIES[rule]
        prio, band = p.priority, p.band
    return prio, rank_of(prio, band, affected)
