"""Signed tracking, unsubscribe and preference links, and where a click leads.

A token is the URL-safe base64 (no padding) of ``payload || tag``: the
payload is ``tenant id \\x1f message id [\\x1f link index]`` and the tag the
first 16 bytes of HMAC-SHA256 over a purpose label and the payload. The
purpose is inside the MAC only, so a click token never verifies as an open or
unsubscribe token, and no field of a token can be changed without the key.

The redirect target of a click is never in the URL: the token names a link
index of a message, and the tracker (`courriel.tracking.tracker`) reads the URL
stored for that index of the template version the message was sent with (an open redirect
would let anyone borrow our domain's reputation for phishing).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

TAG_BYTES = 16
_SEP = "\x1f"
# Far beyond any real payload; refuses absurd input before decoding it.
_MAX_TOKEN = 512


class Purpose(StrEnum):
    """What a token may be used for; part of the MAC input."""

    CLICK = "click"
    OPEN = "open"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    VIEW_ONLINE = "view-online"


@dataclass(frozen=True)
class ClickRef:
    """What a valid click token names."""

    tenant_id: str
    message_id: str
    link_index: int


@dataclass(frozen=True)
class OpenRef:
    """What a valid open-pixel token names."""

    tenant_id: str
    message_id: str


@dataclass(frozen=True)
class UnsubscribeRef:
    """What a valid unsubscribe token names."""

    tenant_id: str
    message_id: str


@dataclass(frozen=True)
class MessageRef:
    """What a valid preferences or view-online token names."""

    tenant_id: str
    message_id: str


def _label(purpose: Purpose) -> bytes:
    return b"courriel-link:" + purpose.value.encode() + b":"


_BLOCK = 64  # SHA-256's block size, for HMAC's pads (RFC 2104 §2)


@functools.lru_cache(maxsize=64)
def _hmac_states(secret_key: bytes, purpose: Purpose) -> tuple[hashlib._Hash, hashlib._Hash]:
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


def _tag(secret_key: bytes, purpose: Purpose, payload: bytes) -> bytes:
    inner, outer = _hmac_states(secret_key, purpose)
    mac = inner.copy()
    mac.update(payload)
    result = outer.copy()
    result.update(mac.digest())
    return result.digest()[:TAG_BYTES]


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(raw: bytes) -> str:
    # base64.urlsafe_b64encode, without its Python-level layers.
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def _sign(secret_key: bytes, purpose: Purpose, fields: list[str]) -> str:
    payload = _SEP.join(fields).encode("utf-8")
    return _b64(payload + _tag(secret_key, purpose, payload))


def _open(secret_key: bytes, purpose: Purpose, token: str, count: int) -> list[str] | None:
    if not token or len(token) > _MAX_TOKEN or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Base64 ignores the spare low bits of the last character, so several
    # strings decode alike: only the one spelling we issue is accepted.
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != token.encode("ascii"):
        return None
    payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    if len(raw) <= TAG_BYTES or not hmac.compare_digest(tag, _tag(secret_key, purpose, payload)):
        return None
    fields = payload.decode("utf-8", errors="replace").split(_SEP)
    return fields if len(fields) == count and all(fields) else None


def click_token(secret_key: bytes, tenant_id: str, message_id: str, link_index: int) -> str:
    """The token of link number `link_index` of one message."""
    return _sign(secret_key, Purpose.CLICK, [tenant_id, message_id, str(link_index)])


def verify_click_token(secret_key: bytes, token: str) -> ClickRef | None:
    """The link a click token names, or None when it is not one of ours."""
    fields = _open(secret_key, Purpose.CLICK, token, 3)
    if fields is None or not fields[2].isdigit():
        return None
    return ClickRef(tenant_id=fields[0], message_id=fields[1], link_index=int(fields[2]))


def open_token(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """The token of one message's open pixel."""
    return _sign(secret_key, Purpose.OPEN, [tenant_id, message_id])


def verify_open_token(secret_key: bytes, token: str) -> OpenRef | None:
    """The message an open token names, or None."""
    fields = _open(secret_key, Purpose.OPEN, token, 2)
    return None if fields is None else OpenRef(tenant_id=fields[0], message_id=fields[1])


def unsubscribe_token(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """The token of one message's one-click unsubscribe link."""
    return _sign(secret_key, Purpose.UNSUBSCRIBE, [tenant_id, message_id])


def verify_unsubscribe_token(secret_key: bytes, token: str) -> UnsubscribeRef | None:
    """The message an unsubscribe token names, or None."""
    fields = _open(secret_key, Purpose.UNSUBSCRIBE, token, 2)
    return None if fields is None else UnsubscribeRef(tenant_id=fields[0], message_id=fields[1])


def preferences_token(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """The token of one message's preferences (privacy center) link."""
    return _sign(secret_key, Purpose.PREFERENCES, [tenant_id, message_id])


def verify_preferences_token(secret_key: bytes, token: str) -> MessageRef | None:
    """The message a preferences token names, or None."""
    fields = _open(secret_key, Purpose.PREFERENCES, token, 2)
    return None if fields is None else MessageRef(tenant_id=fields[0], message_id=fields[1])


def view_online_token(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """The token of one message's view-online link."""
    return _sign(secret_key, Purpose.VIEW_ONLINE, [tenant_id, message_id])


def verify_view_online_token(secret_key: bytes, token: str) -> MessageRef | None:
    """The message a view-online token names, or None."""
    fields = _open(secret_key, Purpose.VIEW_ONLINE, token, 2)
    return None if fields is None else MessageRef(tenant_id=fields[0], message_id=fields[1])


def _base(public_url: str) -> str:
    return public_url.rstrip("/")


# The link positions as bytes, made once (a template has at most a few hundred).
_INDEXES = [b"%d" % i for i in range(512)]


def click_tokens(secret_key: bytes, tenant_id: str, message_id: str, count: int) -> list[bytes]:
    """The click tokens (ASCII) of links 0 to `count - 1` of one message.

    The same tokens as `click_token`, with the MAC of the shared prefix
    computed once: a composer makes one per link of every message.
    """
    prefix = f"{tenant_id}{_SEP}{message_id}{_SEP}".encode()
    inner, outer = _hmac_states(secret_key, Purpose.CLICK)
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


def click_base(public_url: str) -> str:
    """What a click URL starts with; the token follows."""
    return f"{_base(public_url)}/t/c/"


def click_url_list(
    public_url: str, secret_key: bytes, tenant_id: str, message_id: str, count: int
) -> list[str]:
    """`click_url` of links 0 to `count - 1` of one message."""
    base = click_base(public_url)
    return [
        base + t.decode("ascii") for t in click_tokens(secret_key, tenant_id, message_id, count)
    ]


def click_url(
    public_url: str, secret_key: bytes, tenant_id: str, message_id: str, link_index: int
) -> str:
    """``{public_url}/t/c/{token}``: counts the click, then redirects to the stored URL."""
    return click_base(public_url) + click_token(secret_key, tenant_id, message_id, link_index)


def open_pixel_url(public_url: str, secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """``{public_url}/t/o/{token}.gif``: the open pixel."""
    return f"{_base(public_url)}/t/o/{open_token(secret_key, tenant_id, message_id)}.gif"


def unsubscribe_url(public_url: str, secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """``{public_url}/u/{token}``: one-click unsubscribe (RFC 8058 POST, or a page on GET)."""
    return f"{_base(public_url)}/u/{unsubscribe_token(secret_key, tenant_id, message_id)}"


def preferences_url(public_url: str, secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """``{public_url}/p/{token}``: the recipient's privacy center."""
    return f"{_base(public_url)}/p/{preferences_token(secret_key, tenant_id, message_id)}"


def view_online_url(public_url: str, secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """``{public_url}/v/{token}``: the message as a web page."""
    return f"{_base(public_url)}/v/{view_online_token(secret_key, tenant_id, message_id)}"


def is_trackable_url(url: str) -> bool:
    """Only absolute http(s) URLs may ever become redirect targets."""
    lowered = url.strip().lower()
    return lowered.startswith(("http://", "https://")) and len(url) <= 2048
