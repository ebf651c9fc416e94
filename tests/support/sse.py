"""A minimal Server-Sent Events reader over httpx, as a browser's EventSource would parse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class Sse:
    id: str | None
    event: str
    data: Any


async def events(response: httpx.Response) -> AsyncIterator[Sse | str]:
    """Yields each event, and each comment line as a string (keep-alives)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield line
            continue
        if line == "":
            if "data" in fields:
                yield Sse(
                    fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])
                )
            fields = {}
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
