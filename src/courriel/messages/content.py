"""What a transactional message says: the parts given, or a stored template, compiled once.

A transactional message arrives with its own subject and parts (or names a
template of the tenant); either becomes a `TemplateVersion` in memory (never
stored) and goes through the same `content.compose.Composer` as a campaign:
the sandboxed Jinja, the encoders, the MIME skeleton and DKIM. Composers are
kept a little while by content, so a batch of fifty alike messages compiles
its template once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from courriel.content.compose import Composer, SendContext, Sender
from courriel.content.mime import Attachment
from courriel.content.models import TemplateVersion
from courriel.content.service import TemplateContent, build_version

# How long a compiled composer is reused (a DKIM key rotation shows after it).
COMPOSER_TTL_S = 60.0
COMPOSER_CACHE_SIZE = 256


@dataclass(frozen=True)
class Content:
    """The content of one message: inline parts, or what a stored template gives."""

    subject: str
    html: str | None
    text: str | None
    headers: Mapping[str, str]
    sender_name: str = ""
    reply_to: str = ""
    # Set when the content comes from a stored template version.
    template_id: str | None = None
    defaults: Mapping[str, Any] | None = None


def text_as_html(text: str) -> str:
    """An HTML part for a message given as text only (its lines kept as they are)."""
    return f'<div style="white-space:pre-wrap">{html.escape(text, quote=False)}</div>'


def inline_version(content: Content, now: dt.datetime) -> TemplateVersion:
    """Check and compile the parts given (InvalidInputError names what is wrong)."""
    source = content.html if content.html is not None else text_as_html(content.text or "")
    version, _links = build_version(
        content.template_id or "inline",
        0,
        TemplateContent(
            subject=content.subject,
            html=source,
            text=content.text,
            sender_name=content.sender_name,
            reply_to=content.reply_to,
            headers=dict(content.headers),
            defaults=dict(content.defaults or {}),
        ),
        now,
    )
    return version


@dataclass(frozen=True)
class ComposerKey:
    """Everything a composer is built from; equal keys give interchangeable composers."""

    tenant_id: str
    digest: str


def composer_key(
    tenant_id: str,
    version: TemplateVersion,
    sender: Sender,
    send: SendContext,
    attachments: Sequence[Attachment],
) -> ComposerKey:
    """A key naming a composer by its inputs (content, sender, tracking, files)."""
    h = hashlib.sha256()
    for part in (
        version.id if version.template_id != "inline" else "",
        version.subject,
        version.html,
        version.text or "",
        repr(sorted(version.headers.items())),
        repr(sorted(version.defaults.items())),
        version.sender_name,
        version.reply_to,
        sender.email,
        sender.name,
        sender.reply_to,
        repr((send.tracking, send.track_opens, send.track_clicks)),
    ):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    for a in attachments:
        h.update(a.filename.encode("utf-8", "surrogatepass"))
        h.update(a.content_type.encode("ascii", "replace"))
        h.update((a.content_id or "").encode("ascii", "replace"))
        h.update(hashlib.sha256(a.content).digest())
    return ComposerKey(tenant_id, h.hexdigest())


class ComposerCache:
    """Recently built composers by key, for a short time (thread-safe, bounded)."""

    def __init__(self, size: int = COMPOSER_CACHE_SIZE, ttl_s: float = COMPOSER_TTL_S) -> None:
        self._size = size
        self._ttl = ttl_s
        self._items: OrderedDict[ComposerKey, tuple[float, Composer]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ComposerKey, build: Callable[[], Composer]) -> Composer:
        """The composer for `key`, built by `build` when none is fresh."""
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
            if found is not None and now - found[0] < self._ttl:
                self._items.move_to_end(key)
                return found[1]
        composer = build()
        with self._lock:
            self._items[key] = (now, composer)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return composer
