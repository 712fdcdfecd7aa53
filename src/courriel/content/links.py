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

from dataclasses import dataclass
from enum import StrEnum

from courriel.core.tokens import open_fields, sign_fields, sign_indexed


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


def click_token(secret_key: bytes, tenant_id: str, message_id: str, link_index: int) -> str:
    """The token of link number `link_index` of one message."""
    return sign_fields(secret_key, Purpose.CLICK, [tenant_id, message_id, str(link_index)])


def verify_click_token(secret_key: bytes, token: str) -> ClickRef | None:
    """The link a click token names, or None when it is not one of ours."""
    fields = open_fields(secret_key, Purpose.CLICK, token, 3)
    if fields is None or not fields[2].isdigit():
        return None
    return ClickRef(tenant_id=fields[0], message_id=fields[1], link_index=int(fields[2]))


def open_token(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """The token of one message's open pixel."""
    return sign_fields(secret_key, Purpose.OPEN, [tenant_id, message_id])


def verify_open_token(secret_key: bytes, token: str) -> OpenRef | None:
    """The message an open token names, or None."""
    fields = open_fields(secret_key, Purpose.OPEN, token, 2)
    return None if fields is None else OpenRef(tenant_id=fields[0], message_id=fields[1])


def unsubscribe_token(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """The token of one message's one-click unsubscribe link."""
    return sign_fields(secret_key, Purpose.UNSUBSCRIBE, [tenant_id, message_id])


def verify_unsubscribe_token(secret_key: bytes, token: str) -> UnsubscribeRef | None:
    """The message an unsubscribe token names, or None."""
    fields = open_fields(secret_key, Purpose.UNSUBSCRIBE, token, 2)
    return None if fields is None else UnsubscribeRef(tenant_id=fields[0], message_id=fields[1])


def preferences_token(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """The token of one message's preferences (privacy center) link."""
    return sign_fields(secret_key, Purpose.PREFERENCES, [tenant_id, message_id])


def verify_preferences_token(secret_key: bytes, token: str) -> MessageRef | None:
    """The message a preferences token names, or None."""
    fields = open_fields(secret_key, Purpose.PREFERENCES, token, 2)
    return None if fields is None else MessageRef(tenant_id=fields[0], message_id=fields[1])


def view_online_token(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    """The token of one message's view-online link."""
    return sign_fields(secret_key, Purpose.VIEW_ONLINE, [tenant_id, message_id])


def verify_view_online_token(secret_key: bytes, token: str) -> MessageRef | None:
    """The message a view-online token names, or None."""
    fields = open_fields(secret_key, Purpose.VIEW_ONLINE, token, 2)
    return None if fields is None else MessageRef(tenant_id=fields[0], message_id=fields[1])


def _base(public_url: str) -> str:
    return public_url.rstrip("/")


def click_tokens(secret_key: bytes, tenant_id: str, message_id: str, count: int) -> list[bytes]:
    """The click tokens (ASCII) of links 0 to `count - 1` of one message (as `click_token`)."""
    return sign_indexed(secret_key, Purpose.CLICK, [tenant_id, message_id], count)


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


# Message ids of test sends: their links lead to a page saying so, not a 404.
TEST_MESSAGE_PREFIX = "tst"


def is_test_message(message_id: str) -> bool:
    """Whether a message id (from a genuine token) is a test send's."""
    return message_id.startswith(f"{TEST_MESSAGE_PREFIX}_")


def is_trackable_url(url: str) -> bool:
    """Only absolute http(s) URLs may ever become redirect targets."""
    lowered = url.strip().lower()
    return lowered.startswith(("http://", "https://")) and len(url) <= 2048
