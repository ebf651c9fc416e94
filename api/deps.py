"""Request dependencies: what the app factory built, handed to routes."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from api.limits import HeavyLimiter
from core.kinds import KindRegistry
from core.settings import Settings


def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def get_kinds(request: Request) -> KindRegistry:
    kinds: KindRegistry = request.app.state.kinds
    return kinds


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_heavy(request: Request) -> HeavyLimiter:
    heavy: HeavyLimiter = request.app.state.heavy
    return heavy


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
KindsDep = Annotated[KindRegistry, Depends(get_kinds)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
HeavyDep = Annotated[HeavyLimiter, Depends(get_heavy)]
