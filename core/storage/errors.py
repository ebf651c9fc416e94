"""The one definition of "the database is away": errors after which the same work is
retried later (the server is restarting, unreachable, busy or read-only for now), as
opposed to errors about the work itself (a constraint, a bug), which retrying won't fix.

Shared by ingest (retry the batch, hold its acknowledgements), the alert service's loops
(keep going), the rollup refresher and the API (answer 503). A PostgreSQL restart shows up
as any of these depending on where the connection was: refused (``OSError``), dropped
mid-query (``ConnectionDoesNotExistError``, an ``InterfaceError``), asyncpg's own state
machine confused by the vanished server (``InternalClientError``), or the server's
"shutting down / starting up" codes.
"""

from __future__ import annotations

import asyncpg

TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,
    asyncpg.TransactionRollbackError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InsufficientResourcesError,
    # asyncpg's connection state machine after the server vanished mid-query (seen when a
    # pooled connection is reset during a PostgreSQL restart)
    asyncpg.InternalClientError,
)
"""For ``except`` clauses; :func:`is_transient` is the same test on an exception."""


def is_transient(exc: BaseException) -> bool:
    """True if ``exc`` means the database is away for now and the work should be retried.

    Not SQLSTATE 53400 (configuration_limit_exceeded, a subclass of the insufficient-resources
    class above), e.g. TimescaleDB's max_tuples_decompressed_per_dml_transaction when a batch
    resends readings into compressed chunks: that work fails the same way every time, so it
    is split and what still cannot be written is dead-lettered (issue 18)."""
    if isinstance(exc, asyncpg.ConfigurationLimitExceededError):
        return False
    return isinstance(exc, TRANSIENT)
