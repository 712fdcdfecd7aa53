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
   From domain. The sending policy applies as to any transactional message
   (a suspended tenant sends nothing, a limited one stays in its hourly cap).
   With `X-MJ-TemplateID` the stored template is sent instead of the body,
   with `X-MJ-Vars`, through `TransactionalService.submit`;
3. `commit` — many prepared messages at once: per tenant one transaction
   holds back suppressed or restricted recipients (a marketing unsubscribe
   does not stop transactional mail) and records one `TransactionalMessage`
   per recipient with its first event (CustomID, EventPayload, campaign),
   then one spool transaction puts the others in the priority lane, each
   with its own VERP return path. The relay answers 250 only after it
   returns (durable).

A refusal is a `RelayRefusedError` whose `kind` the edge turns into an SMTP reply.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import format_datetime, getaddresses
from typing import Any

from sqlalchemy import insert

from courriel.accounts.service import ApiKeyService
from courriel.audience.models import Contact
from courriel.config import Settings
from courriel.content import dkim
from courriel.content.dkimkeys import DkimKeyService
from courriel.core.addresses import address_hasher, normalize_address
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import CourrielError, ForbiddenError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.delivery.spool import NewMessage, Spool
from courriel.delivery.verp import encode_return_path
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.messages.models import MessageStatus, TransactionalMessage
from courriel.messages.rules import SendingCheck, holds
from courriel.messages.service import (
    MessageRefusedError,
    OutgoingMessage,
    Party,
    TransactionalService,
)
from courriel.policy.domains import SenderDomainService
from courriel.policy.service import PolicyService

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
# Mailjet's default priority (0 to 3); the spool's priority lane is 1 + it.
RELAY_PRIORITY = 2
# Mailjet's own limits on these values.
CUSTOM_ID_MAX = 255
EVENT_PAYLOAD_MAX = 1000
# Signers are loaded (decrypted) and a From domain's verification is looked
# up once per tenant and domain for this long: a rotated key, or a domain
# removed, takes effect within it.
SIGNER_CACHE_SECONDS = 60.0
# A tenant's sending-policy state is read at most this often (`rules.SendingCheck`).
POLICY_CACHE_SECONDS = 2.0


class RefusalKind(enum.StrEnum):
    """Why a relayed message is refused; the edge picks the SMTP reply."""

    # From is missing, several, or not a sender domain of this account.
    SENDER = "sender"
    # The key may not send, or the sending policy suspended the account.
    PERMISSION = "permission"
    # For now only: the account is limited and its hourly cap is reached.
    LATER = "later"
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
    template_id: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Copy:
    """One recipient's copy: its ids and address."""

    message_id: str
    uuid: str
    recipient: str


@dataclass(frozen=True)
class PreparedMessage:
    """A relayed message ready to commit: one signed body, one copy per recipient.

    `committed` is set when the message went through `TransactionalService`
    already (a template message): `commit` then has nothing left to do.
    """

    tenant_id: str
    from_email: str
    subject: str
    options: MailjetOptions
    body: bytes
    copies: tuple[Copy, ...]
    committed: bool = False

    @property
    def message_ids(self) -> list[str]:
        """One id per recipient, in envelope order."""
        return [copy.message_id for copy in self.copies]


@dataclass(frozen=True)
class _SenderCheck:
    # What `SenderDomainService.check_sender` reads.
    from_email: str


class RelayedMail:
    """Turns raw submitted messages into signed, recorded, spooled messages of one tenant."""

    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        secret_key: bytes,
        api_keys: ApiKeyService,
        sender_domains: SenderDomainService,
        dkim_keys: DkimKeyService,
        spool: Spool,
        transactional: TransactionalService,
        policy: PolicyService,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._key = secret_key
        self._api_keys = api_keys
        self._sender_domains = sender_domains
        self._dkim_keys = dkim_keys
        self._spool = spool
        self._transactional = transactional
        self._sending = SendingCheck(storage, clock, policy, cache_seconds=POLICY_CACHE_SECONDS)
        self._signers: dict[tuple[str, str], tuple[float, list[dkim.DkimSigner]]] = {}
        self._senders_ok: dict[tuple[str, str], float] = {}

    def authenticate(self, key_id: str, secret: str) -> Principal:
        """The principal of an API key given as (id, secret): `authenticate_pair`."""
        return self._api_keys.authenticate_pair(key_id, secret)

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
        addresses = _recipients(recipients)
        if options.template_id is not None:
            return self._submit_template(principal, from_email, kept, addresses, options)
        domain = from_email.rpartition("@")[2].lower()
        self._check_sender(principal, from_email)
        signers = self._signers_for(principal.tenant_id, domain)
        if not signers:
            raise RelayRefusedError(
                RefusalKind.SENDER,
                f"{domain} has no DKIM key of this account: add it as a sender domain",
            )
        self._check_policy(principal, len(addresses))
        now = self._clock.now()
        kept = _stamp(kept, now, domain)
        message = b"".join(name + b":" + value + b"\r\n" for name, value in kept) + b"\r\n" + body
        return PreparedMessage(
            tenant_id=principal.tenant_id,
            from_email=from_email,
            subject=_subject(kept),
            options=options,
            body=dkim.sign(message, signers, int(now.timestamp())),
            copies=tuple(Copy(new_id("msg"), str(uuid.uuid4()), rcpt) for rcpt in addresses),
        )

    def commit(self, prepared: Sequence[PreparedMessage]) -> None:
        """Record and spool prepared messages together; durable when this returns.

        Per tenant, one transaction holds back suppressed or restricted
        recipients and records every copy with its first event; then one
        spool transaction queues the copies that may go, in the priority lane.
        """
        now = self._clock.now()
        by_tenant: dict[str, list[PreparedMessage]] = {}
        for message in prepared:
            if not message.committed:
                by_tenant.setdefault(message.tenant_id, []).append(message)
        rows: list[NewMessage] = []
        for tenant_id, messages in by_tenant.items():
            rows.extend(self._record(tenant_id, messages, now))
        self._spool.enqueue(
            rows, now=now, lifetime=dt.timedelta(hours=self._settings.queue_lifetime_hours)
        )

    def _record(
        self, tenant_id: str, messages: list[PreparedMessage], now: dt.datetime
    ) -> list[NewMessage]:
        addresses = {copy.recipient for m in messages for copy in m.copies}
        digest = address_hasher(self._key, tenant_id)
        return_domain = self._settings.return_path_domain
        rows: list[NewMessage] = []
        with transaction(self._storage.tenant(tenant_id)) as session:
            # The Send API's holds (`rules.holds`): an unsubscribe does not stop it.
            found = holds(session, digest, addresses)
            held, contacts = found.reasons, found.contacts
            records, events = [], []
            for message in messages:
                for copy in message.copies:
                    contact = contacts.get(copy.recipient)
                    reason = held.get(copy.recipient, "")
                    records.append(_record(message, copy, reason, now))
                    events.append(_first_event(message, copy, contact, reason, now))
                    if reason:
                        continue
                    rows.append(
                        NewMessage(
                            tenant_id=tenant_id,
                            message_id=copy.message_id,
                            campaign_id=None,
                            contact_id=contact.id if contact else None,
                            mail_from=encode_return_path(
                                self._key, tenant_id, copy.message_id, return_domain
                            ),
                            rcpt_to=copy.recipient,
                            body=message.body,
                            priority=1 + RELAY_PRIORITY,
                        )
                    )
            # One multi-row INSERT, no ORM objects: a group commit holds hundreds.
            session.execute(insert(TransactionalMessage), records)
            record_events(session, events)
        return rows

    def _submit_template(
        self,
        principal: Principal,
        from_email: str,
        fields: list[tuple[bytes, bytes]],
        addresses: list[str],
        options: MailjetOptions,
    ) -> PreparedMessage:
        # Mailjet's relay sends the template instead of the body when
        # X-MJ-TemplateID is given; the Send API's own path does exactly that.
        subject = _subject(fields)
        outgoing = OutgoingMessage(
            sender=Party(from_email, _from_name(fields)),
            to=[Party(address) for address in addresses],
            subject=subject or None,
            template_id=options.template_id,
            variables=options.variables,
            custom_id=options.custom_id or "",
            event_payload=options.event_payload or "",
            campaign=options.campaign or "",
            track_opens=options.track_opens,
            track_clicks=options.track_clicks,
        )
        try:
            submitted = self._transactional.submit(principal, outgoing)
        except MessageRefusedError as exc:
            kind = (
                RefusalKind.SENDER if exc.problems[0].code == "send-0008" else RefusalKind.CONTENT
            )
            if exc.problems[0].code == "mj-0001":
                status = exc.problems[0].status
                kind = RefusalKind.LATER if status == 429 else RefusalKind.PERMISSION
            raise RelayRefusedError(kind, str(exc)) from None
        return PreparedMessage(
            tenant_id=principal.tenant_id,
            from_email=from_email,
            subject=subject,
            options=options,
            body=b"",
            copies=tuple(Copy(r.message_id, r.uuid, r.email) for r in submitted.recipients),
            committed=True,
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

    def _check_policy(self, principal: Principal, count: int) -> None:
        """The Send API's sending policy check (`rules.SendingCheck`), as an SMTP refusal."""
        refusal = self._sending.refusal(principal, count)
        if refusal is not None:
            kind = RefusalKind.LATER if refusal.later else RefusalKind.PERMISSION
            raise RelayRefusedError(kind, refusal.detail)

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


def _record(message: PreparedMessage, copy: Copy, reason: str, now: dt.datetime) -> dict[str, Any]:
    options = message.options
    return {
        "id": copy.message_id,
        "uuid": copy.uuid,
        "status": MessageStatus.BLOCKED if reason else MessageStatus.QUEUED,
        "reason": reason,
        "from_email": message.from_email,
        "recipient": copy.recipient,
        # The envelope does not say To, Cc or Bcc.
        "kind": "to",
        "subject": message.subject[:998],
        "custom_id": options.custom_id or "",
        "event_payload": options.event_payload or "",
        "campaign": options.campaign or "",
        "template_id": None,
        "created_at": now,
    }


def _first_event(
    message: PreparedMessage, copy: Copy, contact: Contact | None, reason: str, now: dt.datetime
) -> NewEvent:
    detail: dict[str, Any] = {"transactional": True, "relay": True}
    if message.options.custom_id:
        detail["custom_id"] = message.options.custom_id
    if reason:
        detail["reason"] = reason
    return NewEvent(
        type=EventType.SKIPPED if reason else EventType.QUEUED,
        occurred_at=now,
        message_id=copy.message_id,
        contact_id=contact.id if contact else None,
        detail=detail,
        dedupe_key=f"{copy.message_id}:submitted",
    )


def _recipients(recipients: Sequence[str]) -> list[str]:
    # One copy per address, as the Send API counts a repeated recipient once.
    try:
        return list(dict.fromkeys(normalize_address(r, "RCPT") for r in recipients))
    except CourrielError as exc:
        raise RelayRefusedError(RefusalKind.CONTENT, exc.detail) from None


def _header_text(fields: list[tuple[bytes, bytes]], wanted: bytes) -> str:
    for name, value in fields:
        if name.strip().lower() == wanted:
            raw = value.replace(b"\r\n", b"").decode("utf-8", "replace").strip()
            try:
                return str(make_header(decode_header(raw)))
            except (LookupError, ValueError):
                return raw
    return ""


def _subject(fields: list[tuple[bytes, bytes]]) -> str:
    return _header_text(fields, b"subject")


def _from_name(fields: list[tuple[bytes, bytes]]) -> str:
    text = _header_text(fields, b"from")
    names = [name for name, _address in getaddresses([text]) if name]
    return names[0] if names else ""


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
    template_id = found.get(MJ_TEMPLATE_ID) or None
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
