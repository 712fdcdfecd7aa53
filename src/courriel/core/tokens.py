"""Every signed token of Courriel, one module for every purpose.

Three forms, each keyed by the installation key and a purpose string, so a
token made for one use is worthless for another:

- expiring tokens for links and forms that carry no session (`sign`,
  `verify`): ``base64url(JSON payload) "." base64url(HMAC-SHA256)``;
- compact tokens for the links in every message (`sign_fields`,
  `open_fields`, `sign_indexed`): base64url of ``payload || tag``, the
  payload the fields joined by US (0x1F), the tag the first 16 bytes of
  HMAC-SHA256 over a purpose label and the payload; no expiry, as a link
  in a mail lives as long as the mail;
- short hex tags (`hex_tag`), for addresses that must stay short and
  case-insensitive-safe (VERP return paths).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import json
from typing import Any

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(raw: bytes) -> str:
    # base64.urlsafe_b64encode, without its Python-level layers.
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


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


def hex_tag(secret_key: bytes, message: str, length: int) -> str:
    """The first `length` hex digits of HMAC-SHA256 over `message`."""
    return hmac.new(secret_key, message.encode(), hashlib.sha256).hexdigest()[:length]


# -- compact tokens ------------------------------------------------------------

TAG_BYTES = 16
_SEP = "\x1f"
# Far beyond any real payload; refuses absurd input before decoding it.
_MAX_TOKEN = 512


def _label(purpose: str) -> bytes:
    # The label of the first tracking links; kept, so every link ever sent still opens.
    return b"courriel-link:" + purpose.encode() + b":"


_BLOCK = 64  # SHA-256's block size, for HMAC's pads (RFC 2104 §2)


@functools.lru_cache(maxsize=64)
def _hmac_states(secret_key: bytes, purpose: str) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256 (RFC 2104) with the key pads and the label hashed once.

    A composer makes ~50 tags a message; `hmac.new` per tag hashed the key
    pads each time, and `HMAC.copy` is a Python-level wrapper. The two
    SHA-256 states are copied (in C) instead; the tags are the same.
    """
    key = hashlib.sha256(secret_key).digest() if len(secret_key) > _BLOCK else secret_key
    key = key.ljust(_BLOCK, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + _label(purpose))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def _tag(secret_key: bytes, purpose: str, payload: bytes) -> bytes:
    inner, outer = _hmac_states(secret_key, purpose)
    mac = inner.copy()
    mac.update(payload)
    result = outer.copy()
    result.update(mac.digest())
    return result.digest()[:TAG_BYTES]


def sign_fields(secret_key: bytes, purpose: str, fields: list[str]) -> str:
    """A compact token carrying `fields` (no expiry): base64url of payload and a 16-byte tag."""
    payload = _SEP.join(fields).encode("utf-8")
    return _b64(payload + _tag(secret_key, purpose, payload))


def open_fields(secret_key: bytes, purpose: str, token: str, count: int) -> list[str] | None:
    """The `count` fields of a genuine compact token of this purpose; None otherwise."""
    if not token or len(token) > _MAX_TOKEN or not token.isascii():
        return None
    try:
        raw = _unb64(token)
    except (binascii.Error, ValueError):
        return None
    # Base64 ignores the spare low bits of the last character, so several
    # strings decode alike: only the one spelling we issue is accepted.
    if _b64(raw) != token:
        return None
    payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    if len(raw) <= TAG_BYTES or not hmac.compare_digest(tag, _tag(secret_key, purpose, payload)):
        return None
    fields = payload.decode("utf-8", errors="replace").split(_SEP)
    return fields if len(fields) == count and all(fields) else None


# The link positions as bytes, made once (a template has at most a few hundred).
_INDEXES = [b"%d" % i for i in range(512)]


def sign_indexed(secret_key: bytes, purpose: str, fields: list[str], count: int) -> list[bytes]:
    """The tokens (ASCII) of `fields` followed by each index 0 to `count - 1`.

    The same tokens as `sign_fields` of ``fields + [str(i)]``, with the MAC of
    the shared prefix computed once: a composer makes one per link of every
    message.
    """
    prefix = (_SEP.join(fields) + _SEP).encode()
    inner, outer = _hmac_states(secret_key, purpose)
    inner = inner.copy()
    inner.update(prefix)
    indexes = _INDEXES[:count] if count <= len(_INDEXES) else [b"%d" % i for i in range(count)]
    b2a = binascii.b2a_base64
    tokens: list[bytes] = []
    append = tokens.append
    for index in indexes:
        mac = inner.copy()
        mac.update(index)
        tag = outer.copy()
        tag.update(mac.digest())
        raw = prefix + index + tag.digest()[:TAG_BYTES]
        append(b2a(raw, newline=False).translate(_URLSAFE).rstrip(b"="))
    return tokens
