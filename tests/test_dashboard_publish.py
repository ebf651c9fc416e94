"""`citysense dashboards publish` against a Grafana HTTP API over a real socket."""

from __future__ import annotations

import pytest

from citysense.cli import main
from citysense.local.ports import free_port
from tests.support.fake_grafana import fake_grafana

TOKEN = "glsa_test_token"
UIDS = {
    "citysense-overview",
    "citysense-flood",
    "citysense-lights",
    "citysense-network",
    "citysense-device",
}


def _publish(url: str, token: str, *extra: str) -> int:
    return main(["dashboards", "publish", "--url", url, "--token", token, *extra])


def test_publish_creates_everything_then_changes_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYSENSE_GRAFANA_DB_PASSWORD", "s3cret")
    with fake_grafana(TOKEN) as grafana:
        assert _publish(grafana.url, TOKEN, "--db-host", "db") == 0
        first = capsys.readouterr().out
        assert set(grafana.dashboards) == UIDS
        assert first.count("created") == 7, first  # data source, folder, five dashboards
        ds = grafana.datasources["citysense-pg"]
        assert ds["user"] == "citysense_grafana"
        assert ds["url"].startswith("db:")
        assert ds["secureJsonFields"] == {"password": True}
        assert all(d["meta"]["folderUid"] == "citysense" for d in grafana.dashboards.values())
        overview = grafana.dashboards["citysense-overview"]["dashboard"]
        assert overview["title"] == "Citysense — Ringkasan Operasional"

        writes = len(grafana.writes())
        assert _publish(grafana.url, TOKEN, "--db-host", "db") == 0
        second = capsys.readouterr().out
        assert grafana.writes()[writes:] == [], "a second publish must write nothing"
        assert second.count("unchanged") == 7, second

        # English replaces the titles (same uids), and only the dashboards are written.
        assert _publish(grafana.url, TOKEN, "--db-host", "db", "--lang", "en") == 0
        assert capsys.readouterr().out.count("updated") == 5
        assert grafana.dashboards["citysense-overview"]["dashboard"]["title"] == (
            "Citysense — Operations overview"
        )


def test_refused_token_is_one_line_naming_url_and_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake_grafana(TOKEN) as grafana:
        assert _publish(grafana.url, "wrong") == 1
        assert grafana.writes() == []
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert grafana.url in err
    assert "401" in err


def test_unreachable_grafana_is_one_line_naming_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert _publish(url, TOKEN) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert url in err
    assert "unreachable" in err
