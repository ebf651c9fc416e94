"""A small Grafana HTTP API for publish tests: the endpoints grafana-client calls, real HTTP.

It keeps data sources, folders and dashboards in memory, checks the bearer token like
Grafana does (401 otherwise), and records every request so tests can see what was written.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeGrafana:
    token: str
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n)) if n else None

        def _route(self, method: str) -> None:
            state.requests.append((method, self.path))
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                self._send(401, {"message": "Invalid API key"})
                return
            body = self._body() if method in ("POST", "PUT") else None
            path = self.path.split("?")[0]
            if m := re.fullmatch(r"/api/datasources/uid/([\w-]+)", path):
                self._datasource(method, m.group(1), body)
            elif path == "/api/datasources" and method == "POST":
                self._datasource("PUT", body["uid"], body)
            elif m := re.fullmatch(r"/api/folders/([\w-]+)", path):
                f = state.folders.get(m.group(1))
                self._send(200, f) if f else self._send(404, {"message": "folder not found"})
            elif path == "/api/folders" and method == "POST":
                state.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"]}
                self._send(200, state.folders[body["uid"]])
            elif m := re.fullmatch(r"/api/dashboards/uid/([\w-]+)", path):
                d = state.dashboards.get(m.group(1))
                self._send(200, d) if d else self._send(404, {"message": "Dashboard not found"})
            elif path == "/api/dashboards/db" and method == "POST":
                dash = dict(body["dashboard"])
                old = state.dashboards.get(dash["uid"])
                dash["id"] = len(state.dashboards) + 1
                dash["version"] = (old["dashboard"]["version"] + 1) if old else 1
                meta = {"folderUid": body.get("folderUid", "")}
                state.dashboards[dash["uid"]] = {"dashboard": dash, "meta": meta}
                self._send(200, {"status": "success", "uid": dash["uid"]})
            else:
                self._send(404, {"message": "Not found"})

        def _datasource(self, method: str, uid: str, body: Any) -> None:
            if method == "GET":
                ds = state.datasources.get(uid)
                self._send(200, ds) if ds else self._send(404, {"message": "Data source not found"})
                return
            ds = {k: v for k, v in body.items() if k != "secureJsonData"}
            old = state.datasources.get(uid, {})
            secure = dict(old.get("secureJsonFields", {}))
            secure.update({k: True for k in (body.get("secureJsonData") or {})})
            ds.update(id=old.get("id", len(state.datasources) + 1), secureJsonFields=secure)
            state.datasources[uid] = ds
            self._send(200, {"datasource": ds, "message": "Datasource saved"})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

    return Handler


@contextmanager
def fake_grafana(token: str) -> Iterator[FakeGrafana]:
    state = FakeGrafana(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
