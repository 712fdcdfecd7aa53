"""Composing messages: compile once per template version, then render many.

`Composer` is built once per (template version, sender): it compiles the
template with its trackable links as link slots, encodes the static text of
both parts in quoted-printable (`encoded.py`), builds the static header
fields (and their DKIM canonical form) and the MIME skeleton, and holds the
DKIM keys. Per recipient it only personalizes, encodes the values and signs:

    context (tokens, click URLs) → render (sandboxed, limited) → encode the
    values between the pre-encoded static text → multipart/alternative →
    headers → DKIM (Ed25519 + RSA) over the body as written (canonical)
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any, overload

from courriel.content import headers as h
from courriel.content import links, qp
from courriel.content.dkim import (
    DkimSigner,
    canonical_body_hash,
    canonical_fields,
    canonical_header,
    merge_fields,
    signature_fields,
)
from courriel.content.encoded import EncodedPart
from courriel.content.formatting import locale_for
from courriel.content.jinja_env import DEFAULT_LIMITS, RenderLimits
from courriel.content.linktracking import add_slots, rewrite_links
from courriel.content.mime import Attachment, MimeSkeleton
from courriel.content.models import TemplateVersion
from courriel.content.render import (
    HTML_ENV,
    LINKS_KEY,
    PIXEL_KEY,
    CompiledTemplate,
    Namespace,
    RenderedContent,
    RenderError,
    parse_part,
)
from courriel.core.wire import is_transfer_ready

# What a template may read of a contact besides its properties.
CONTACT_FIELDS = ("email", "first_name", "last_name", "language", "timezone")


@dataclass(frozen=True)
class Sender:
    """Who a message is from, and where replies and unsubscribe mails go."""

    email: str
    name: str = ""
    reply_to: str = ""
    # Domain of the envelope sender; receives List-Unsubscribe mailto requests.
    return_path_domain: str = ""


@dataclass(frozen=True)
class Recipient:
    """One person a message is composed for."""

    message_id: str
    email: str
    name: str
    contact: dict[str, Any]
    language: str | None = None
    timezone: str | None = None
    tracking: bool = True
    # A transactional message's variables: ``var.name`` and ``name`` in the template.
    variables: Mapping[str, Any] = field(default_factory=dict)
    # What the To and Cc fields show, when a message has several visible
    # recipients (each envelope recipient still gets a copy of their own).
    to_header: str | None = None
    cc_header: str | None = None


@dataclass(frozen=True)
class SendContext:
    """What is the same for every message of one send."""

    tenant_id: str
    public_url: str
    secret_key: bytes
    campaign_id: str | None = None
    campaign: dict[str, Any] = field(default_factory=dict)
    mailing_list: dict[str, Any] = field(default_factory=dict)
    marketing: bool = True
    # Off for the whole send (the campaign or one of its lists said so).
    tracking: bool = True
    # Each kind on its own (a transactional message asks for one or both).
    track_opens: bool = True
    track_clicks: bool = True


def contact_context(
    values: dict[str, Any], properties: dict[str, Any] | None, defaults: dict[str, Any]
) -> Namespace:
    """`contact.*` of a template: the standard fields, properties, then declared defaults."""
    data: dict[str, Any] = {k: v for k, v in (properties or {}).items() if not k.startswith("_")}
    data.update({k: values.get(k) for k in CONTACT_FIELDS})
    for key, value in defaults.items():
        name = key.removeprefix("contact.")
        if key.startswith("contact.") and data.get(name) in (None, ""):
            data[name] = value
    return Namespace("contact", data)


class ClickHrefs(Sequence[str]):
    """The click URLs of one message's links by position, made when read.

    The composer needs them as encoded bytes (`qp.wrap_each` of the
    tokens); only a link the template writes from a buffer, or a preview,
    reads one as text.
    """

    __slots__ = ("_base", "tokens")

    def __init__(self, base: str, tokens: list[bytes]) -> None:
        self._base = base
        self.tokens = tokens

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._base + t.decode("ascii") for t in self.tokens[index]]
        return self._base + self.tokens[index].decode("ascii")

    def __len__(self) -> int:
        return len(self.tokens)


class Composer:
    """Messages of one template version from one sender, composed per recipient."""

    def __init__(
        self,
        version: TemplateVersion,
        sender: Sender,
        send: SendContext,
        signers: Sequence[DkimSigner] = (),
        limits: RenderLimits = DEFAULT_LIMITS,
        *,
        attachments: Sequence[Attachment] = (),
    ) -> None:
        self._version = version
        self._sender = sender
        self._send = send
        self._signers = list(signers)
        tree = parse_part(HTML_ENV, version.html, "html")
        self._links = rewrite_links(tree)
        self.link_urls = self._links.urls
        add_slots(tree)
        self._compiled = CompiledTemplate(
            version.subject,
            tree,
            version.text,
            preheader=version.preheader,
            html_source=version.html,
            links=self._links,
            limits=limits,
        )
        self._html = EncodedPart(self._compiled.html_template, self._links)
        text = self._compiled.text_template
        self._text = EncodedPart(text) if text is not None else None
        self._mime = MimeSkeleton(attachments)
        self._from_domain = sender.email.rpartition("@")[2]
        self._static_head = self._static_headers()
        # Fields every message has alike, canonicalized for DKIM once:
        # [fields before the per-message ones, the MIME fields after them].
        self._static_canon = (
            canonical_fields(self._static_head),
            canonical_fields(self._mime.content_headers),
        )
        self._top_defaults = {k: v for k, v in version.defaults.items() if "." not in k}
        self._base = send.public_url.rstrip("/")
        self._click_base = links.click_base(self._base)
        self._click_base_bytes = self._click_base.encode("ascii")

    def _static_headers(self) -> bytes:
        sender, send = self._sender, self._send
        name = sender.name or self._version.sender_name
        lines = [h.header_line("From", h.address(name, sender.email))]
        reply_to = sender.reply_to or self._version.reply_to
        if reply_to:
            lines.append(h.header_line("Reply-To", h.address("", reply_to)))
        if send.marketing:
            # RFC 8058 §3.1: the POST body a one-click unsubscribe sends.
            lines.append(h.header_line("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        kind = "marketing" if send.marketing else "transactional"
        campaign = send.campaign_id or "direct"
        lines.append(h.header_line("Feedback-ID", f"{campaign}:{send.tenant_id}:{kind}:courriel"))
        for header, value in self._version.headers.items():
            lines.append(h.header_line(header, h.fold(value)))
        return b"".join(lines)

    def context(self, recipient: Recipient) -> dict[str, Any]:
        """The template variables of one recipient."""
        send = self._send
        key, tenant, message = send.secret_key, send.tenant_id, recipient.message_id
        context: dict[str, Any] = dict(self._top_defaults)
        # Names only: a key such as "courriel:links" must not reach the
        # renderer's own slots.
        named = {k: v for k, v in recipient.variables.items() if k.isidentifier()}
        context.update(named)
        context["var"] = Namespace("var", named)
        context.update(
            contact=recipient.contact,
            campaign=send.campaign,
            list=send.mailing_list,
            sender={"email": self._sender.email, "name": self._sender.name},
            unsubscribe_url=links.unsubscribe_url(self._base, key, tenant, message),
            preferences_url=links.preferences_url(self._base, key, tenant, message),
            view_online_url=links.view_online_url(self._base, key, tenant, message),
            locale=locale_for(recipient.language),
            timezone=recipient.timezone,
        )
        if send.tracking and recipient.tracking:
            if send.track_clicks:
                tokens = links.click_tokens(key, tenant, message, len(self.link_urls))
                context[LINKS_KEY] = ClickHrefs(self._click_base, tokens)
            if send.track_opens:
                context[PIXEL_KEY] = links.open_pixel_url(self._base, key, tenant, message)
        return context

    def render(self, recipient: Recipient) -> tuple[RenderedContent, dict[str, Any]]:
        """Personalized content (RenderError with the reason when it fails)."""
        context = self.context(recipient)
        return self._compiled.render(context), context

    def compose(self, recipient: Recipient, now: dt.datetime) -> bytes:
        """The signed message for one recipient, ready for SMTP DATA.

        Its lines all end in CRLF and none starts with a dot, so its SMTP
        transfer form is the message itself and the end marker (RFC 5321
        §4.5.2): queue it with ``NewMessage(transfer_ready=True)``.
        """
        context = self.context(recipient)
        chunks = self._compiled.render_chunks(context)
        urls = context.get(LINKS_KEY)
        if urls is None:
            hrefs = self._html.untracked_hrefs
        elif isinstance(urls, ClickHrefs):
            hrefs = qp.wrap_each(self._click_base_bytes, urls.tokens)
        else:
            hrefs = [qp.encode_value(url) for url in urls]
        html = self._html.encode(chunks.html, hrefs)
        if self._text is not None:
            text = self._text.encode(chunks.text, [])
        else:
            # No text part could be made from the template: from this message.
            text = [qp.encode(self._compiled.render(context).text)]
        # Every line of the body is quoted-printable (CRLF only, by its
        # alphabet, and never starting with a dot) or MIME structure: see
        # `compose`'s docstring.
        body = self._mime.body(text, html)
        try:
            fields = self._message_fields(recipient, chunks.subject, context, now)
            head = b"".join([h.header_line(name, value) for name, value in fields])
        except UnicodeError:
            # An address whose domain cannot be written in IDNA form.
            raise RenderError("the recipient's address cannot be written in a header") from None
        before, mime = self._static_canon
        # The per-message fields are canonicalized from their values
        # directly (no parsing back of the header block); names are unique.
        canonical = {
            name.lower(): [canonical_header(name.encode("ascii"), value.encode("utf-8"))]
            for name, value in fields
        }
        signatures = signature_fields(
            merge_fields(before, canonical, mime),
            canonical_body_hash(body),
            self._signers,
            int(now.timestamp()),
        )
        header = b"".join([signatures, self._static_head, head, self._mime.content_headers])
        # Checked per message, on a few hundred bytes: custom fields and values
        # come from customers, and a bare LF sent as is could smuggle a second
        # message past a lax server.
        if not is_transfer_ready(header):
            raise RenderError("a header field would break the SMTP transfer of the message")
        return b"".join([header, b"\r\n", body])

    def _message_fields(
        self,
        recipient: Recipient,
        subject: str,
        context: dict[str, Any],
        now: dt.datetime,
    ) -> list[tuple[str, str]]:
        # Stable per (campaign, contact): the recipient's message id is unique
        # and the right-hand side is the sender's domain (RFC 5322 §3.6.4).
        fields = [
            ("To", recipient.to_header or h.address(recipient.name, recipient.email)),
            ("Subject", h.unstructured(subject)),
            ("Date", _date(now)),
            ("Message-ID", f"<{recipient.message_id}@{self._from_domain}>"),
        ]
        if recipient.cc_header:
            fields.append(("Cc", recipient.cc_header))
        if self._send.marketing:
            # The token of the unsubscribe URL, made for the context already.
            token = context["unsubscribe_url"].rpartition("/")[2]
            mailto = f"mailto:unsubscribe@{self._sender.return_path_domain or self._from_domain}"
            # RFC 8058 §3.1 / RFC 2369: an https URL for one-click, a mailto as fallback.
            fields.append(
                (
                    "List-Unsubscribe",
                    f"<{context['unsubscribe_url']}>,\r\n <{mailto}?subject=unsubscribe%20{token}>",
                )
            )
        return fields


@functools.lru_cache(maxsize=16)
def _date(now: dt.datetime) -> str:
    # A batch of messages shares its `now`; RFC 5322 §3.3 date-time.
    return format_datetime(now)
