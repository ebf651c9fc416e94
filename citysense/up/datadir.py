"""Where ``citysense up`` keeps its data, so that running it again finds the same readings."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from citysense import instance
from citysense.commands import UsageError


def default_data_dir(env: dict[str, str] | None = None) -> Path:
    """See :func:`citysense.instance.default_data_dir` (one rule for ``up`` and its readers)."""
    return instance.default_data_dir(env)


def prepare(data_dir: Path) -> Path:
    """Create the directory; as root, check the service users can reach it."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the data directory {data_dir} ({exc.strerror});"
            " pass --data-dir with a writable directory"
        ) from None
    data_dir.chmod(0o755)
    if os.geteuid() == 0:
        for parent in data_dir.resolve().parents:
            if not parent.stat().st_mode & 0o001:
                raise UsageError(
                    f"PostgreSQL runs as user 'postgres' when citysense runs as root, and cannot"
                    f" enter {parent} (mode {parent.stat().st_mode & 0o777:o}); pass --data-dir"
                    " with a directory under /var/lib or /tmp, or run as a normal user"
                )
    return data_dir


def lock(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock for this run: two ``up``s on one data directory would clash.

    The lock dies with the process, however it ends, so a crash never leaves it stale.
    """
    handle = (data_dir / "up.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "?"
        handle.close()
        raise UsageError(
            f"another 'citysense up' (pid {pid}) is using {data_dir}; stop it first,"
            " or pass --data-dir to run a second one"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
