"""Composing messages: compile once per template version, then render many.

`Composer` is built once per (template version, sender): it compiles the
template with its trackable links routed through `tracked_link`, builds the
static header fields and the MIME skeleton, and holds the DKIM keys. Per
recipient it only personalizes, encodes the two parts and signs:

    context → render (sandboxed, limited) → preheader + pixel → headers
    → multipart/alternative → DKIM (Ed25519 + RSA)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

from courriel.content import headers as h
from courriel.content import links
from courriel.content.dkim import DkimSigner, sign_parts
from courriel.content.formatting import locale_for
from courriel.content.linktracking import add_slots, rewrite_links
from courriel.content.mime import MimeSkeleton
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
from courriel.content.sandbox import DEFAULT_LIMITS, RenderLimits

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


class Composer:
    """Messages of one template version from one sender, composed per recipient."""

    def __init__(
        self,
        version: TemplateVersion,
        sender: Sender,
        send: SendContext,
        signers: Sequence[DkimSigner] = (),
        limits: RenderLimits = DEFAULT_LIMITS,
    ) -> None:
        self._version = version
        self._sender = sender
        self._send = send
        self._signers = list(signers)
        tree = parse_part(HTML_ENV, version.html, "html")
        self.link_urls = rewrite_links(tree)
        add_slots(tree)
        self._compiled = CompiledTemplate(
            version.subject,
            tree,
            version.text,
            preheader=version.preheader,
            html_source=version.html,
            limits=limits,
        )
        self._mime = MimeSkeleton()
        self._from_domain = sender.email.rpartition("@")[2]
        self._static_head = self._static_headers()
        self._top_defaults = {k: v for k, v in version.defaults.items() if "." not in k}
        self._base = send.public_url.rstrip("/")

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
            context[LINKS_KEY] = self._click_urls(message)
            context[PIXEL_KEY] = links.open_pixel_url(self._base, key, tenant, message)
        return context

    def _click_urls(self, message_id: str) -> Callable[[int, str], str]:
        send = self._send
        url = links.click_urls(self._base, send.secret_key, send.tenant_id, message_id)

        def click(index: int, _original: str) -> str:
            return url(index)

        return click

    def render(self, recipient: Recipient) -> tuple[RenderedContent, dict[str, Any]]:
        """Personalized content (RenderError with the reason when it fails)."""
        context = self.context(recipient)
        return self._compiled.render(context), context

    def compose(self, recipient: Recipient, now: dt.datetime) -> bytes:
        """The signed message for one recipient, ready for SMTP DATA."""
        content, context = self.render(recipient)
        try:
            head = self._static_head + self._message_headers(recipient, content, context, now)
        except UnicodeError:
            # An address whose domain cannot be written in IDNA form.
            raise RenderError("the recipient's address cannot be written in a header") from None
        parts = self._mime.body_parts(content.text, content.html)
        return sign_parts(
            head + self._mime.content_headers, parts, self._signers, int(now.timestamp())
        )

    def _message_headers(
        self,
        recipient: Recipient,
        content: RenderedContent,
        context: dict[str, Any],
        now: dt.datetime,
    ) -> bytes:
        # Stable per (campaign, contact): the recipient's message id is unique
        # and the right-hand side is the sender's domain (RFC 5322 §3.6.4).
        lines = [
            h.header_line("To", h.address(recipient.name, recipient.email)),
            h.header_line("Subject", h.unstructured(content.subject)),
            h.header_line("Date", format_datetime(now)),
            h.header_line("Message-ID", f"<{recipient.message_id}@{self._from_domain}>"),
        ]
        if self._send.marketing:
            token = links.unsubscribe_token(
                self._send.secret_key, self._send.tenant_id, recipient.message_id
            )
            mailto = f"mailto:unsubscribe@{self._sender.return_path_domain or self._from_domain}"
            # RFC 8058 §3.1 / RFC 2369: an https URL for one-click, a mailto as fallback.
            lines.append(
                h.header_line(
                    "List-Unsubscribe",
                    f"<{context['unsubscribe_url']}>,\r\n <{mailto}?subject=unsubscribe%20{token}>",
                )
            )
        return b"".join(lines)
