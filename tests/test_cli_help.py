"""Every command and option of ``citysense`` explains itself; choices are listed."""

from __future__ import annotations

import argparse

import pytest

from citysense.cli import build_parser


def _walk(
    parser: argparse.ArgumentParser, name: str
) -> list[tuple[str, argparse.Action | None, str | None]]:
    """(command, option or None for the command itself, its help) for everything."""
    out: list[tuple[str, argparse.Action | None, str | None]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            for sub, child in action.choices.items():
                out.append((f"{name} {sub}", None, helps.get(sub)))
                out.extend(_walk(child, f"{name} {sub}"))
        elif not isinstance(action, argparse._HelpAction):
            out.append((name, action, action.help))
    return out


def test_every_command_and_option_has_help_and_kind_status_and_role_list_their_choices() -> None:
    missing, no_choices = [], []
    for command, option, text in _walk(build_parser(), "citysense"):
        where = f"{command} {option.option_strings or option.dest if option else ''}"
        if not text:
            missing.append(where)
        listed = option is None or option.choices
        if not listed and option is not None and option.dest in ("kind", "status", "role"):
            no_choices.append(where)
    assert missing == []
    assert no_choices == []


def test_citysense_help_speaks_to_a_user(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "composition root" not in out
    assert "Start with 'citysense up'" in out


def test_kind_and_status_choices_show_in_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["devices", "list", "--help"])
    out = capsys.readouterr().out
    assert "{streetlight,flood_gauge,network_node}" in out
    assert "decommissioned" in out
