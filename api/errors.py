"""Error handlers: every bad request gets a 4xx whose ``detail`` says how to fix it."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.storage.errors import TRANSIENT, is_transient

RETRY_AFTER_S = 5


class FieldProblem(HTTPException):
    """A refusal that names fields: ``errors`` holds ``{field, pesan, message}`` each, so a
    form can put the Bahasa Indonesia text (``pesan``, English in ``message``) on the field."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(status, detail)
        self.errors = errors


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header")]
    return ".".join(parts) or "request"


def readable(errors: list[dict[str, Any]]) -> str:
    out = []
    for e in errors:
        msg = str(e.get("msg", "invalid"))
        ctx = e.get("ctx") or {}
        if "expected" in ctx:
            msg = f"expected {ctx['expected']}"
        out.append(f"{_where(tuple(e.get('loc', ())))}: {msg}")
    return "; ".join(out)


def install(app: FastAPI) -> None:
    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        return JSONResponse(
            status_code=422,
            content={
                "detail": f"invalid request: {readable(errors)}",
                "errors": [
                    {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors
                ],
            },
        )

    async def data_error(request: Request, exc: Exception) -> JSONResponse:
        # A parameter the database cannot take (e.g. a NUL byte): the caller's fault.
        return JSONResponse(
            status_code=422, content={"detail": f"a parameter was not acceptable: {exc}"}
        )

    async def field_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FieldProblem)
        pesan = "; ".join(f"{e['field']}: {e['pesan']}" for e in exc.errors)
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": exc.detail, "pesan": pesan or exc.detail, "errors": exc.errors},
        )

    async def database_away(request: Request, exc: Exception) -> JSONResponse:
        # The database is restarting or unreachable: the request was fine, try it again soon.
        if not is_transient(exc):
            raise exc
        return JSONResponse(
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
            content={
                "detail": "basis data sedang tidak tersedia, coba lagi sebentar lagi / the"
                f" database is unavailable for now, retry in {RETRY_AFTER_S} s"
            },
        )

    for cls in TRANSIENT:
        if issubclass(cls, Exception):
            app.add_exception_handler(cls, database_away)
    app.add_exception_handler(FieldProblem, field_problem)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(asyncpg.DataError, data_error)
    _document_validation_errors(app)


VALIDATION_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "type": "string",
            "description": "What is wrong with the request and how to fix it.",
            "example": "invalid request: status: expected 'open', 'acknowledged' or 'resolved'",
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"loc": {"type": "array", "items": {}}, "msg": {"type": "string"}},
            },
        },
    },
}


def _document_validation_errors(app: FastAPI) -> None:
    """Make the OpenAPI document describe 422s as this handler sends them."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in components:
            components["HTTPValidationError"] = VALIDATION_SCHEMA
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
