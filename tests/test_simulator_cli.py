"""`citysense simulate` refuses bad scenarios and counts with one line naming the field,
prints the fleet as CSV, and shows a live summary."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from citysense.cli import main
from simulators.progress import Progress
from simulators.publisher import Stats


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["simulate", "--no-register", *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('duration = "soon"', "duration: expected a duration"),
        ('description = "x"', "duration: required"),
        ('duration = "6h"\nspeed = 3', "speed: unknown field"),
        ('duration = "6h"\n[fleet]\nstreetlight = -2', "fleet.streetlight: must be a whole number"),
        ('duration = "6h"\n[fleet]\nlamps = 2', "fleet.lamps: unknown field"),
        (
            'duration = "6h"\n[[rain]]\nriver = "Musi"\nat = "1h"\nhours = 2\nmm_per_hour = 9',
            "rain[0].river: must be one of Enim, Lematang, Rambang",
        ),
        (
            'duration = "6h"\n[[rain]]\nriver = "Enim"\nat = "1h"\nhours = 2\nmm_per_hour = "lots"',
            "rain[0].mm_per_hour: must be a number > 0",
        ),
        (
            'duration = "6h"\n[[grid_outage]]\ndistrict = "Lubai"\nat = "7h"\nhours = 1',
            "grid_outage[0].at: starts at 7:00:00, after the scenario ends",
        ),
        (
            'duration = "6h"\n[fleet]\nstreetlight = 2\ndistricts = ["Muara Enim"]\n'
            '[[grid_outage]]\ndistrict = "Lubai"\nat = "1h"\nhours = 1',
            "grid_outage[0].district: the fleet has no street lights in 'Lubai'",
        ),
        (
            'duration = "6h"\n[fleet]\nflood_gauge = 1\n[[bad_firmware]]\nkind = "flood_gauge"\n'
            "device = 3",
            "bad_firmware[0].device: the fleet has no flood_gauge number 3",
        ),
        ('duration = "6h"\n[fleet]\nstreetlight = 0', "fleet: every count is 0"),
        ('duration = "6h"\n[fleet]\nflood_gauge = 12', "fleet.flood_gauge: 12 gauges asked for"),
        ("duration = [", "not valid TOML"),
    ],
)
def test_invalid_scenario_file_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, field: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    err = _fails(capsys, "--scenario", str(path))
    assert field in err
    assert "bad.toml" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--count", "streetlight=many"], "--count 'streetlight=many': N must be a whole number"),
        (["--count", "lamp=3"], "expected KIND=N with KIND one of"),
        (["--count", "streetlight=-1"], "N must be >= 0"),
        (["--per-kind", "0"], "--per-kind must be at least 1"),
        (
            ["--count", "flood_gauge=0", "--count", "streetlight=0", "--count", "network_node=0"],
            "every count is 0",
        ),
        (["--districts", "Atlantis"], "--districts: unknown district 'Atlantis'"),
        (["--speed", "0"], "--speed must be > 0"),
        (["--scenario", "volcano"], "no scenario named 'volcano'; bundled: bad-firmware"),
        (["--from", "2026-01-01T00:00", "--to", "2026-01-02T00:00Z"], "add a UTC offset"),
        (["--from", "2026-01-01T00:00Z"], "a backfill needs both --from and --to"),
        (["--from", "2026-01-02T00:00Z", "--to", "2026-01-01T00:00Z"], "--from must be before"),
        (["--duration", "forever"], "--duration: expected a duration"),
    ],
)
def test_invalid_options_fail_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in _fails(capsys, *argv)


def test_csv_lists_the_fleet_for_the_registry_import(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "flood-enim", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["station"] for r in rows] == [
        "Pulau Panggung",
        "Sukaraja",
        "Lawang Kidul",
        "Muara Enim",
    ]
    assert rows[1]["awas_cm"] == "520"
    assert all(r["river"] == "Enim" and r["kind"] == "flood_gauge" for r in rows)


def test_list_scenarios_shows_each_bundled_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list-scenarios"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["bad-firmware", "flood-enim", "grid-outage", "node-down"]


def test_progress_writes_plain_lines_with_phase_when_not_a_tty() -> None:
    out = io.StringIO()
    phases = iter(["normal", "normal", "rain on the Enim (45 mm/h)"])
    p = Progress(out, 4, lambda t: next(phases), tty=False, every_s=3600)
    stats = Stats(messages=120, readings=118, malformed=2)
    t = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)
    p.tick(t, stats)  # first line
    p.tick(t, stats)  # same phase, too soon: nothing
    p.tick(t, stats)  # phase changed: a line at once
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("sim 2026-11-27 21:05 WIB | 4 devices | 120 messages (2 malformed)")
    assert lines[1].endswith("phase: rain on the Enim (45 mm/h)")
    assert "\r" not in out.getvalue()


def test_progress_on_a_terminal_is_a_live_rich_line_keeping_each_finished_phase() -> None:
    out = io.StringIO()
    phases = iter(["normal", "rain on the Enim (45 mm/h)"])
    p = Progress(out, 4, lambda t: next(phases), tty=True, every_s=3600)
    t = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)
    p.tick(t, Stats(messages=10))
    p.tick(t, Stats(messages=20))  # the phase changed: the first line stays above
    p.finish()
    text = out.getvalue()
    assert "\x1b[" in text  # drawn by rich, in place
    assert "10 messages | " in text
    assert "20 messages | " in text
    assert "phase: rain" in text  # cut to the terminal width by rich
