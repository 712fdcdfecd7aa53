"""Per-message return paths (VERP), so a bounce maps back to one message.

The local part carries the tenant id, the message id and a short HMAC tag:
``b.<tenant id>.<message id>.<tag>@<return path domain>``. The tag keeps a
forged bounce from suppressing someone else's address.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from courriel.core.tokens import hex_tag

TAG_LENGTH = 10


@dataclass(frozen=True)
class ReturnPath:
    """What a VERP address says."""

    tenant_id: str
    message_id: str


def _tag(secret_key: bytes, tenant_id: str, message_id: str) -> str:
    return hex_tag(secret_key, f"verp:{tenant_id}:{message_id}", TAG_LENGTH)


def encode_return_path(secret_key: bytes, tenant_id: str, message_id: str, domain: str) -> str:
    """The envelope sender (MAIL FROM) of one message."""
    return f"b.{tenant_id}.{message_id}.{_tag(secret_key, tenant_id, message_id)}@{domain}"


def decode_return_path(secret_key: bytes, address: str) -> ReturnPath | None:
    """The message a bounce address names, or None when it is not one of ours."""
    local, _, _domain = address.rpartition("@")
    parts = local.split(".")
    if len(parts) != 4 or parts[0] != "b":
        return None
    _, tenant_id, message_id, tag = parts
    if not hmac.compare_digest(tag, _tag(secret_key, tenant_id, message_id)):
        return None
    return ReturnPath(tenant_id=tenant_id, message_id=message_id)
