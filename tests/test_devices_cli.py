"""``citysense devices ...`` end to end, as a technician's terminal would run it."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from core.settings import Settings


def _cli(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYSENSE_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "citysense.cli", "devices", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_register_list_import_export_label_rotate_decommission(
    settings: Settings, tmp_path: Path, uid: str
) -> None:
    did = f"CLI-{uid}"
    r = _cli(
        settings, tmp_path, "register", did, "--kind", "flood_gauge", "--district", "muara enim",
        "--lat", "-3.66", "--lon", "103.80", "--status", "active",
        "--set", "station=Sukaraja", "--set", "river=Enim",
        "--set", "waspada_cm=300", "--set", "siaga_cm=450", "--set", "awas_cm=522",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"username: {did}" in r.stdout
    assert f"topics:   citysense/v1/flood_gauge/{did}/#" in r.stdout

    again = _cli(
        settings, tmp_path, "register", did, "--kind", "flood_gauge", "--district", "Lubai"
    )
    assert again.returncode == 1
    assert "already registered" in again.stderr

    bad_place = _cli(
        settings, tmp_path, "register", f"X-{uid}", "--kind", "streetlight",
        "--district", "Lubai", "--lat", "-6.2", "--lon", "106.8", "--status", "installed",
    )  # fmt: skip
    assert bad_place.returncode == 1
    assert "latitude: (-6.2, 106.8) is outside" in bad_place.stderr

    rows = ["id;kind;district;latitude;longitude;status"]
    rows += [f"BULK-{uid}-{i:03d};streetlight;Lubai;-3.67;104.31;installed" for i in range(120)]
    good = tmp_path / "good.csv"
    good.write_text("\n".join(rows) + "\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*rows[:3], f"BAD-{uid};streetlight;Nowhere;;;planned"]) + "\n")

    r = _cli(settings, tmp_path, "import", str(bad))
    assert r.returncode == 1
    assert "bad.csv: line 4, district: unknown district 'Nowhere'" in r.stderr
    assert "nothing imported" in r.stdout

    r = _cli(settings, tmp_path, "import", str(good), "--batch", f"b-{uid}")
    assert r.returncode == 0, r.stderr
    assert "imported 120 of 120 devices" in r.stdout
    assert "importing" in r.stderr  # the progress bar (rich)
    assert "120/120" in r.stderr
    creds = tmp_path / f"b-{uid}-credentials.csv"
    with creds.open() as fh:
        issued = list(csv.DictReader(fh))
    assert len(issued) == 120
    assert oct(creds.stat().st_mode & 0o777) == "0o600"

    r = _cli(settings, tmp_path, "list", "--q", f"BULK-{uid}", "--limit", "5")
    assert r.returncode == 0
    assert len(r.stdout.strip().splitlines()) == 6
    assert "5 of 120 devices" in r.stderr

    out = tmp_path / "export.csv"
    r = _cli(settings, tmp_path, "export", "--district", "Muara Enim", "-o", str(out))
    assert r.returncode == 0
    exported = {row["id"]: row for row in csv.DictReader(io.StringIO(out.read_text()))}
    assert exported[did]["awas_cm"] == "522.0"
    assert exported[did]["station"] == "Sukaraja"

    r = _cli(settings, tmp_path, "label", did)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / f"{did}.svg").read_text().startswith("<svg")
    r = _cli(settings, tmp_path, "label", did, "--png")
    assert (tmp_path / f"{did}.png").read_bytes().startswith(b"\x89PNG")
    r = _cli(settings, tmp_path, "label", "--batch", f"b-{uid}")
    sheet = (tmp_path / f"labels-b-{uid}.html").read_text()
    assert sheet.count('class="page"') == 5  # 120 labels, 27 per page

    r = _cli(settings, tmp_path, "rotate-credentials", did)
    assert r.returncode == 0
    assert "password:" in r.stdout

    r = _cli(settings, tmp_path, "decommission", did, "--note", "washed away")
    assert r.returncode == 0
    assert "credentials are revoked" in r.stdout
    r = _cli(settings, tmp_path, "rotate-credentials", did)
    assert r.returncode == 1
    assert "decommissioned" in r.stderr
