"""Push the data source and dashboards to a running Grafana through its HTTP API.

Idempotent: each object is read first and written only when it differs, so a second run
changes nothing. Failures become one :class:`PublishError` line naming the URL and status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

FOLDER_UID = "citysense"
FOLDER_TITLE = "Citysense"
MESSAGE = "citysense dashboards publish"
# Fields Grafana adds or owns; not part of what we publish.
_SERVER_OWNED = ("id", "version")


class PublishError(RuntimeError):
    """Grafana could not be reached or refused a request."""


@dataclass(frozen=True, slots=True)
class Change:
    what: str
    action: str  # "created", "updated" or "unchanged"


def _missing(exc: GrafanaException) -> bool:
    return isinstance(exc, GrafanaClientError) and exc.status_code == 404


def _describe(url: str, exc: Exception) -> PublishError:
    if isinstance(exc, GrafanaException) and exc.status_code:
        detail = exc.message if isinstance(exc.message, str) else str(exc)
        reason = "token refused" if exc.status_code in (401, 403) else "request failed"
        return PublishError(
            f"Grafana at {url}: {reason}, HTTP {exc.status_code} ({detail.splitlines()[0]})"
        )
    text = str(exc)
    known = re.search(r"\[Errno -?\d+\] ([^'\")]+)|(Failed to resolve '[^']+')", text)
    if known:
        reason = known.group(1) or known.group(2)
    else:
        reason = text.splitlines()[0] if text else type(exc).__name__
    return PublishError(f"Grafana at {url} is unreachable: {reason}")


def _same_datasource(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if any(current.get(k) != v for k, v in wanted.items() if k not in ("jsonData",)):
        return False
    have = current.get("jsonData") or {}
    return all(have.get(k) == v for k, v in wanted["jsonData"].items())


def _strip(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in _SERVER_OWNED}


class Publisher:
    def __init__(self, url: str, token: str, *, timeout: float = 10) -> None:
        self.url = url
        self.api = GrafanaApi.from_url(url, credential=token, timeout=timeout)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GrafanaException as exc:
            if _missing(exc):
                return None
            raise _describe(self.url, exc) from exc
        except Exception as exc:  # the HTTP library's own connection errors
            raise _describe(self.url, exc) from exc

    def datasource(self, wanted: dict[str, Any], password: str | None) -> Change:
        uid = wanted["uid"]
        current = self._call(self.api.datasource.get_datasource_by_uid, uid)
        body = dict(wanted)
        if current is None:
            if password is not None:
                body["secureJsonData"] = {"password": password}
            self._call(self.api.datasource.create_datasource, body)
            return Change(f"datasource {uid}", "created")
        has_password = bool((current.get("secureJsonFields") or {}).get("password"))
        if _same_datasource(current, wanted) and (password is None or has_password):
            return Change(f"datasource {uid}", "unchanged")
        if password is not None:
            body["secureJsonData"] = {"password": password}
        self._call(self.api.datasource.update_datasource_by_uid, uid, body)
        return Change(f"datasource {uid}", "updated")

    def folder(self) -> Change:
        if self._call(self.api.folder.get_folder, FOLDER_UID) is not None:
            return Change(f"folder {FOLDER_UID}", "unchanged")
        self._call(self.api.folder.create_folder, FOLDER_TITLE, uid=FOLDER_UID)
        return Change(f"folder {FOLDER_UID}", "created")

    def dashboard(self, dashboard: dict[str, Any]) -> Change:
        uid = dashboard["uid"]
        current = self._call(self.api.dashboard.get_dashboard, uid)
        wanted = _strip(dashboard)
        if current is not None:
            same = _strip(current.get("dashboard", {})) == wanted
            folder = (current.get("meta") or {}).get("folderUid")
            if same and folder == FOLDER_UID:
                return Change(f"dashboard {uid}", "unchanged")
        self._call(
            self.api.dashboard.update_dashboard,
            {"dashboard": wanted, "folderUid": FOLDER_UID, "overwrite": True, "message": MESSAGE},
        )
        return Change(f"dashboard {uid}", "created" if current is None else "updated")


def publish(
    url: str,
    token: str,
    datasource: dict[str, Any],
    dashboards: Sequence[dict[str, Any]],
    *,
    password: str | None = None,
) -> list[Change]:
    """Publish the data source, the Citysense folder and every dashboard; returns what changed."""
    p = Publisher(url, token)
    changes = [p.datasource(datasource, password), p.folder()]
    changes += [p.dashboard(json.loads(json.dumps(d))) for d in dashboards]
    return changes
