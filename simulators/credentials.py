"""Per-device MQTT logins, as the registry exports them: JSON or CSV.

JSON: ``{"DEVICE-ID": {"username": "...", "password": "..."}, ...}``.
CSV: a header with ``id,username,password`` (``device_id`` is accepted for ``id``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from simulators.publisher import Credential


class CredentialsError(ValueError):
    pass


def load_credentials(path: Path) -> dict[str, Credential]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(f"--credentials {path}: cannot read it: {exc.strerror}") from None
    out: dict[str, Credential] = {}
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CredentialsError(f"--credentials {path}: not valid JSON: {exc}") from None
        for dev, login in doc.items():
            if not isinstance(login, dict) or not {"username", "password"} <= set(login):
                raise CredentialsError(
                    f'--credentials {path}: {dev}: expected {{"username": ..., "password": ...}}'
                )
            out[dev] = Credential(str(login["username"]), str(login["password"]))
        return out
    rows = csv.DictReader(io.StringIO(text))
    fields = set(rows.fieldnames or ())
    id_col = "id" if "id" in fields else "device_id"
    if not {id_col, "username", "password"} <= fields:
        raise CredentialsError(
            f"--credentials {path}: CSV needs the columns id,username,password;"
            f" found {', '.join(sorted(fields)) or 'none'}"
        )
    for n, row in enumerate(rows, start=2):
        if not row[id_col] or not row["username"]:
            raise CredentialsError(f"--credentials {path}: line {n}: id and username are required")
        out[row[id_col]] = Credential(row["username"], row["password"] or "")
    return out
