"""MQTT credentials: random passwords, hashed the way Mosquitto's password file expects.

The hash is ``$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>``, byte-for-byte what
``mosquitto_passwd`` writes, so the broker's password file is generated from the database
alone and the clear password exists only in the response that issued it. Passwords are
32 random bytes, so Mosquitto's default 101 iterations cost an attacker nothing useful.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 101
SALT_BYTES = 12


def new_password() -> str:
    return secrets.token_urlsafe(32)


def mosquitto_hash(
    password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS
) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(password: str, stored: str) -> bool:
    try:
        _, seven, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if seven != "7":
        return False
    again = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt), int(iterations)
    )
    return hmac.compare_digest(again, base64.b64decode(digest))
