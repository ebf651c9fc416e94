"""One module per area of the ``citysense`` command; each exposes ``register(subparsers)``.

Every handler has the signature ``(settings, kinds, args) -> int`` and raises
:class:`UsageError` for an expected failure (reported as one line, no traceback).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from core.kinds import KindRegistry
from core.settings import Settings

Handler = Callable[[Settings, KindRegistry, argparse.Namespace], int]


class UsageError(Exception):
    """An expected failure: reported as one line, without a traceback."""
