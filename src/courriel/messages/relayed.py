"""Relayed mail: a customer's own message, submitted raw over SMTP, made ready to send.

The SMTP relay (`courriel.relay.submission`) hands over what it received:
the authenticated principal, the envelope and the message bytes (CRLF line
endings only; the edge refused anything else). `RelayedMail` then:

1. `authenticate` — the API key pair: user name = key id, password = secret;
2. `prepare` — reads the header section, takes the Mailjet headers out
   (`X-MJ-CustomID`, `X-MJ-EventPayload`, `X-Mailjet-Campaign`,
   `X-Mailjet-TrackOpen`, `X-Mailjet-TrackClick`, `X-MJ-TemplateID`,
   `X-MJ-Vars`: honoured as options, never sent on), checks that From is one
   address of a sender domain of the tenant, adds Date and Message-ID when
   missing (RFC 6409 §8.1, §8.3), signs with the tenant's DKIM keys for the
   From domain, and makes one spool message per recipient, each with its
   own VERP return path;
3. `commit` — puts many prepared messages in the spool in one transaction:
   the relay answers 250 only after it returns (durable).

A refusal is a `RelayRefusedError` whose `kind` the edge turns into an SMTP reply.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime, getaddresses
from typing import Any

from courriel.accounts.service import ApiKeyService
from courriel.config import Settings
from courriel.content import dkim
from courriel.content.dkimkeys import DkimKeyService
from courriel.core.clock import Clock
from courriel.core.errors import AuthenticationError, CourrielError, ForbiddenError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.delivery.spool import NewMessage, Spool
from courriel.delivery.verp import encode_return_path
from courriel.policy.domains import SenderDomainService

# Lower-case names of the Mailjet SMTP headers (Mailjet's SMTP relay guide).
MJ_CUSTOM_ID = "x-mj-customid"
MJ_EVENT_PAYLOAD = "x-mj-eventpayload"
MJ_CAMPAIGN = "x-mailjet-campaign"
MJ_TRACK_OPEN = "x-mailjet-trackopen"
MJ_TRACK_CLICK = "x-mailjet-trackclick"
MJ_TEMPLATE_ID = "x-mj-templateid"
MJ_VARS = "x-mj-vars"
MAILJET_HEADERS = frozenset(
    {
        MJ_CUSTOM_ID,
        MJ_EVENT_PAYLOAD,
        MJ_CAMPAIGN,
        MJ_TRACK_OPEN,
        MJ_TRACK_CLICK,
        MJ_TEMPLATE_ID,
        MJ_VARS,
    }
)
# Mailjet's own limits on these values.
CUSTOM_ID_MAX = 255
EVENT_PAYLOAD_MAX = 1000
# Signers are loaded (decrypted) and a From domain's verification is looked
# up once per tenant and domain for this long: a rotated key, or a domain
# removed, takes effect within it.
SIGNER_CACHE_SECONDS = 60.0


class RefusalKind(enum.StrEnum):
    """Why a relayed message is refused; the edge picks the SMTP reply."""

    # From is missing, several, or not a sender domain of this account.
    SENDER = "sender"
    # The key may not send.
    PERMISSION = "permission"
    # The message itself is unusable (no header section, a bad Mailjet header).
    CONTENT = "content"


class RelayRefusedError(CourrielError):
    """A relayed message that will not be sent, and why (in words for the customer)."""

    def __init__(self, kind: RefusalKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class MailjetOptions:
    """What the Mailjet headers of a relayed message asked for."""

    custom_id: str | None = None
    event_payload: str | None = None
    campaign: str | None = None
    track_opens: bool = False
    track_clicks: bool = False
    template_id: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedMessage:
    """A relayed message ready for the spool: one spool row per recipient."""

    tenant_id: str
    from_domain: str
    options: MailjetOptions
    rows: tuple[NewMessage, ...]

    @property
    def message_ids(self) -> list[str]:
        """One id per recipient, in envelope order."""
        return [row.message_id for row in self.rows]


@dataclass(frozen=True)
class _SenderCheck:
    # What `SenderDomainService.check_sender` reads.
    from_email: str


class RelayedMail:
    """Turns raw submitted messages into signed spool messages of one tenant."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        secret_key: bytes,
        api_keys: ApiKeyService,
        sender_domains: SenderDomainService,
        dkim_keys: DkimKeyService,
        spool: Spool,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._key = secret_key
        self._api_keys = api_keys
        self._sender_domains = sender_domains
        self._dkim_keys = dkim_keys
        self._spool = spool
        self._signers: dict[tuple[str, str], tuple[float, list[dkim.DkimSigner]]] = {}
        self._senders_ok: dict[tuple[str, str], float] = {}

    def authenticate(self, key_id: str, secret: str) -> Principal:
        """The principal of an API key given as (id, secret); any mismatch is the same error."""
        principal = self._api_keys.authenticate(secret)
        # The secret alone names the key; the id must name the same one, so a
        # client configured with a wrong pair fails as it would at Mailjet.
        if principal.actor != f"key:{key_id}":
            raise AuthenticationError("invalid API key")
        return principal

    def prepare(
        self, principal: Principal, recipients: Sequence[str], data: bytes
    ) -> PreparedMessage:
        """Check, strip, stamp and sign one submitted message (CRLF line endings)."""
        try:
            principal.require(Capability.CAMPAIGNS_SEND)
        except ForbiddenError:
            raise RelayRefusedError(RefusalKind.PERMISSION, "this API key may not send") from None
        head, separator, body = data.partition(b"\r\n\r\n")
        if not separator:
            # A message with no body still has a header section and an empty line.
            head, body = data.removesuffix(b"\r\n"), b""
        fields, _ = dkim.split_message(head + b"\r\n\r\n")
        options, kept = _take_mailjet_headers(fields)
        from_email = _single_from(kept)
        domain = from_email.rpartition("@")[2].lower()
        self._check_sender(principal, from_email)
        signers = self._signers_for(principal.tenant_id, domain)
        if not signers:
            raise RelayRefusedError(
                RefusalKind.SENDER,
                f"{domain} has no DKIM key of this account: add it as a sender domain",
            )
        now = self._clock.now()
        kept = _stamp(kept, now, domain)
        message = b"".join(name + b":" + value + b"\r\n" for name, value in kept) + b"\r\n" + body
        signed = dkim.sign(message, signers, int(now.timestamp()))
        domain_of_bounces = self._settings.return_path_domain
        rows = []
        for rcpt in recipients:
            message_id = new_id("msg")
            rows.append(
                NewMessage(
                    tenant_id=principal.tenant_id,
                    message_id=message_id,
                    campaign_id=None,
                    contact_id=None,
                    mail_from=encode_return_path(
                        self._key, principal.tenant_id, message_id, domain_of_bounces
                    ),
                    rcpt_to=rcpt,
                    body=signed,
                )
            )
        return PreparedMessage(
            tenant_id=principal.tenant_id, from_domain=domain, options=options, rows=tuple(rows)
        )

    def commit(self, prepared: Sequence[PreparedMessage]) -> None:
        """Spool every prepared message in one transaction; durable when this returns."""
        rows = [row for message in prepared for row in message.rows]
        self._spool.enqueue(
            rows,
            now=self._clock.now(),
            lifetime=dt.timedelta(hours=self._settings.queue_lifetime_hours),
        )

    def _check_sender(self, principal: Principal, from_email: str) -> None:
        domain = from_email.rpartition("@")[2].lower()
        now = time.monotonic()
        checked = self._senders_ok.get((principal.tenant_id, domain))
        if checked is not None and now - checked < SIGNER_CACHE_SECONDS:
            return
        try:
            self._sender_domains.check_sender(principal, _SenderCheck(from_email))
        except CourrielError as exc:
            detail = getattr(exc, "reason", exc.detail)
            raise RelayRefusedError(RefusalKind.SENDER, f"From {from_email}: {detail}") from None
        # Only a domain that passed is remembered: one that failed is asked
        # again, so a customer who just verified it need not wait.
        self._senders_ok[principal.tenant_id, domain] = now

    def _signers_for(self, tenant_id: str, domain: str) -> list[dkim.DkimSigner]:
        now = time.monotonic()
        cached = self._signers.get((tenant_id, domain))
        if cached is not None and now - cached[0] < SIGNER_CACHE_SECONDS:
            return cached[1]
        # Only this tenant's keys: a domain's keys belong to one account
        # (`DkimKeyService.rotate`), so another tenant's domain has none here.
        signers = self._dkim_keys.signers(tenant_id, domain)
        self._signers[tenant_id, domain] = (now, signers)
        return signers


def _take_mailjet_headers(
    fields: list[tuple[bytes, bytes]],
) -> tuple[MailjetOptions, list[tuple[bytes, bytes]]]:
    """The Mailjet options and the header fields without them (they are never sent on)."""
    found: dict[str, str] = {}
    kept: list[tuple[bytes, bytes]] = []
    for name, value in fields:
        key = name.strip().lower().decode("ascii", "replace")
        if key in MAILJET_HEADERS:
            found[key] = value.replace(b"\r\n", b"").decode("utf-8", "replace").strip()
        else:
            kept.append((name, value))
    if not found:
        return MailjetOptions(), kept
    return _options(found), kept


def _options(found: dict[str, str]) -> MailjetOptions:
    custom_id = found.get(MJ_CUSTOM_ID)
    if custom_id is not None and len(custom_id) > CUSTOM_ID_MAX:
        raise RelayRefusedError(
            RefusalKind.CONTENT, f"X-MJ-CustomID is longer than {CUSTOM_ID_MAX} characters"
        )
    payload = found.get(MJ_EVENT_PAYLOAD)
    if payload is not None and len(payload) > EVENT_PAYLOAD_MAX:
        raise RelayRefusedError(
            RefusalKind.CONTENT, f"X-MJ-EventPayload is longer than {EVENT_PAYLOAD_MAX} characters"
        )
    template_id: int | None = None
    if MJ_TEMPLATE_ID in found:
        try:
            template_id = int(found[MJ_TEMPLATE_ID])
        except ValueError:
            raise RelayRefusedError(
                RefusalKind.CONTENT, "X-MJ-TemplateID must be a template number"
            ) from None
    variables: dict[str, Any] = {}
    if MJ_VARS in found:
        try:
            parsed = json.loads(found[MJ_VARS])
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise RelayRefusedError(RefusalKind.CONTENT, "X-MJ-Vars must be a JSON object")
        variables = parsed
    return MailjetOptions(
        custom_id=custom_id,
        event_payload=payload,
        campaign=found.get(MJ_CAMPAIGN),
        track_opens=_flag(found, MJ_TRACK_OPEN, "X-Mailjet-TrackOpen"),
        track_clicks=_flag(found, MJ_TRACK_CLICK, "X-Mailjet-TrackClick"),
        template_id=template_id,
        variables=variables,
    )


def _flag(found: dict[str, str], key: str, shown: str) -> bool:
    # Mailjet: 0 turns tracking off, 1 (and 2, "as the account says") on.
    value = found.get(key)
    if value is None:
        return False
    if value not in {"0", "1", "2"}:
        raise RelayRefusedError(RefusalKind.CONTENT, f"{shown} must be 0, 1 or 2")
    return value != "0"


def _single_from(fields: list[tuple[bytes, bytes]]) -> str:
    # RFC 5322 §3.6: exactly one From field; we also want exactly one
    # mailbox in it, since that is the domain we vouch for and sign as.
    values = [value for name, value in fields if name.strip().lower() == b"from"]
    if len(values) != 1:
        raise RelayRefusedError(RefusalKind.SENDER, "the message must have exactly one From field")
    text = values[0].replace(b"\r\n", b"").decode("utf-8", "replace")
    addresses = [address for _name, address in getaddresses([text]) if address]
    if len(addresses) != 1 or "@" not in addresses[0]:
        raise RelayRefusedError(RefusalKind.SENDER, "From must hold exactly one address")
    return addresses[0]


def _stamp(
    fields: list[tuple[bytes, bytes]], now: dt.datetime, domain: str
) -> list[tuple[bytes, bytes]]:
    # A submission server may add what the client left out (RFC 6409 §8).
    names = {name.strip().lower() for name, _ in fields}
    added: list[tuple[bytes, bytes]] = []
    if b"date" not in names:
        added.append((b"Date", b" " + format_datetime(now).encode("ascii")))
    if b"message-id" not in names:
        added.append((b"Message-ID", f" <{new_id('msg')}@{domain}>".encode("ascii")))
    return fields + added
