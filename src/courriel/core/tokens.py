"""Signed, expiring tokens for links and forms that carry no session.

A token is ``base64url(JSON payload) "." base64url(HMAC-SHA256)``, keyed by
the installation key and a purpose string, so a token made for one use
(confirming a subscription) is worthless for another (a form's CSRF field).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret_key: bytes, purpose: str, body: str) -> str:
    key = hmac.new(secret_key, f"token:{purpose}".encode(), hashlib.sha256).digest()
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())


def sign(secret_key: bytes, purpose: str, payload: dict[str, Any], expires: dt.datetime) -> str:
    """A token carrying `payload` until `expires`."""
    body = _b64(json.dumps({**payload, "exp": int(expires.timestamp())}).encode())
    return f"{body}.{_mac(secret_key, purpose, body)}"


def verify(secret_key: bytes, purpose: str, token: str, now: dt.datetime) -> dict[str, Any] | None:
    """The payload of a genuine, unexpired token of this purpose; None otherwise."""
    body, _, mac = token.partition(".")
    if not body or len(token) > 2000:
        return None
    if not hmac.compare_digest(mac, _mac(secret_key, purpose, body)):
        return None
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict) or int(payload.get("exp", 0)) < now.timestamp():
        return None
    return payload
