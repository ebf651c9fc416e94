"""Unknown query parameters are an error, not silently ignored (``buket=1h`` is a typo).

One dependency for the whole API (installed by :func:`api.app.create_app`): it compares
the request's query parameters with those the matched route declares (its own and its
dependencies') and answers 422 naming the unknown ones and the valid ones. Pages outside
the API schema (/ops, /technician/, /docs) read their own parameters in the browser and
are left alone.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute


def declared(route: APIRoute) -> frozenset[str]:
    """The query parameter names a route accepts: its own and its dependencies'."""
    return frozenset(_query_names(route.dependant))


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query_params(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    valid = declared(route)
    unknown = sorted(set(request.query_params.keys()) - valid)
    if unknown:
        names = ", ".join(repr(u[:40]) for u in unknown[:5])
        accepted = ", ".join(sorted(valid)) if valid else "none"
        raise HTTPException(
            422,
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} {names};"
            f" {route.path} accepts: {accepted}",
        )
