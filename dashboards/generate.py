"""Build every dashboard from code and write (or check) the committed JSON.

The JSON under ``dashboards/grafana/<lang>/`` is what Grafana provisions and what ``citysense
dashboards publish`` sends; it is generated here and committed, and a test fails when the
two differ (run ``citysense dashboards generate`` after changing a board or a kind).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from core.kinds import KindRegistry
from dashboards.boards import device, flood, lights, network, overview
from dashboards.boards.common import Board
from dashboards.i18n import LANGS, Lang, column
from dashboards.query import SqlQuery

OUTPUT = Path(__file__).parent / "grafana"
BOARDS = (overview, flood, lights, network, device)


def boards(kinds: KindRegistry, lang: Lang) -> list[Board]:
    built = [m.build(kinds, lang) for m in BOARDS]
    for board in built:
        _table_headers(board, lang)
    return built


def _table_headers(board: Board, lang: Lang) -> None:
    """Show table columns under headers in the board's language (SQL names stay stable)."""
    for panel in panels(board):
        if panel.type_val != "table":
            continue
        config = panel.field_config or model.FieldConfigSource()
        overrides = list(config.overrides or [])
        for q in panel.targets or []:
            assert isinstance(q, SqlQuery)
            for c in q.columns:
                header = column(c.name, lang)
                if header != c.name:
                    overrides.append(
                        model.DashboardFieldConfigSourceOverrides(
                            matcher=model.MatcherConfig(id_val="byName", options=c.name),
                            properties=[
                                model.DynamicConfigValue(id_val="displayName", value=header)
                            ],
                        )
                    )
        config.overrides = overrides
        panel.field_config = config


def panels(board: Board) -> Iterator[model.Panel]:
    """Every panel of a board (rows are layout, not panels with queries)."""
    for p in board.dashboard.build().panels or []:
        if isinstance(p, model.Panel):
            yield p


def queries(board: Board) -> Iterator[tuple[model.Panel, SqlQuery]]:
    for p in panels(board):
        for target in p.targets or []:
            assert isinstance(target, SqlQuery), f"panel {p.title!r} has a non-SQL target"
            yield p, target


def to_json(board: Board) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, with stable panel ids."""
    data: dict[str, Any] = json.loads(json.dumps(board.dashboard.build(), cls=JSONEncoder))
    for i, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = i
        if panel.get("options") is None and panel.get("type") != "row":
            panel["options"] = {}  # Grafana's panel migrations expect an object
    return data


def render(board: Board) -> str:
    return json.dumps(to_json(board), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files(kinds: KindRegistry, langs: tuple[Lang, ...] = LANGS) -> dict[Path, str]:
    return {
        OUTPUT / lang / f"{board.slug}.json": render(board)
        for lang in langs
        for board in boards(kinds, lang)
    }


def write(kinds: KindRegistry, langs: tuple[Lang, ...] = LANGS) -> list[Path]:
    """Write the JSON files that differ; returns the paths written."""
    written = []
    for path, text in expected_files(kinds, langs).items():
        if not path.exists() or path.read_text("utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
            written.append(path)
    return written


def stale(kinds: KindRegistry) -> list[Path]:
    """Committed files that are missing or differ from the generator's output."""
    return [
        path
        for path, text in expected_files(kinds).items()
        if not path.exists() or path.read_text("utf-8") != text
    ]
