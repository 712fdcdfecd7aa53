"""Webhook signatures: HMAC-SHA256 over the timestamp and the body.

Header ``Courriel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>." + body)>``. The timestamp is inside the MAC so a captured request
cannot be replayed later with a fresh time; receivers should refuse a
timestamp older than a few minutes and compare in constant time, as
`verify_signature` does.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Courriel-Signature"
DEFAULT_TOLERANCE_S = 300


def new_secret() -> str:
    """A fresh signing secret for an endpoint (shown to the tenant)."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, now: int, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> bool:
    """What a receiver does: a valid v1 signature made at most `tolerance_s` ago."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp = parts.get("t", "")
    given = parts.get("v1", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance_s:
        return False
    expected = sign(secret, int(stamp), body).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, given)
