"""Transactional submission: one message, checked, composed, signed and spooled.

The recipe for each message (`TransactionalService.submit`): `_validate` what
was given, `_check_sender` (never free webmail; a verified sender domain of
the tenant), `_check_policy` (a suspended tenant sends nothing; a limited one
stays within its hourly cap), `_content` (a stored template or the parts
given, compiled once), then per recipient `_holds`: a hard bounce, a
complaint, an erasure, a manual suppression or restricted processing stop the
message, a marketing unsubscribe does not (an order confirmation is not
marketing); a `DeduplicateCampaign` repeat is skipped. Then compose and
DKIM-sign each copy, and `_commit`: the records and their first events in the
tenant database, then the spool's priority lane, which the delivery worker
claims before campaign mail. In sandbox mode every step runs but the commit.

Transactional rules differ from a campaign's on purpose: no unsubscribe link
or List-Unsubscribe header is required or added, and tracking is off unless
the message asks for it (and never for a contact who objected to it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact
from courriel.config import Settings
from courriel.content import headers as h
from courriel.content.compose import Composer, Recipient, SendContext, Sender, contact_context
from courriel.content.dkimkeys import DkimKeyService
from courriel.content.links import TEST_MESSAGE_PREFIX
from courriel.content.mime import Attachment
from courriel.content.models import TemplateVersion
from courriel.content.render import RenderError
from courriel.content.service import TemplateService
from courriel.core.addresses import address_hasher
from courriel.core.addresses import normalize_address as _normalize_address
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import (
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
)
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.delivery.spool import NewMessage, Spool
from courriel.delivery.verp import encode_return_path
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.messages.content import (
    ComposerCache,
    Content,
    composer_key,
    inline_version,
)
from courriel.messages.models import MessageStatus, TransactionalMessage
from courriel.messages.rules import SendingCheck, holds
from courriel.policy.domains import SenderDomainService
from courriel.policy.links.preferences import LinkCheckPreferences
from courriel.policy.links.service import LinkChecker
from courriel.policy.service import PolicyService

MAX_RECIPIENTS = 50
MAX_SUBJECT = 255
MAX_CUSTOM_ID = 255
MAX_EVENT_PAYLOAD = 10_000
MAX_VARIABLES = 200


@functools.lru_cache(maxsize=16_384)
def normalize_address(address: str, field: str = "email") -> str:
    """`core.addresses.normalize_address`, remembered: a batch names its addresses
    several times (checks, headers, records), and the full check costs a millisecond."""
    return _normalize_address(address, field)


_CONTACT_FIELDS = ("email", "first_name", "last_name", "language", "timezone")


@dataclass(frozen=True)
class Party:
    """An address with an optional display name."""

    email: str
    name: str = ""


@dataclass(frozen=True)
class OutgoingMessage:
    """One transactional message as an application asks for it."""

    sender: Party
    to: Sequence[Party] = ()
    cc: Sequence[Party] = ()
    bcc: Sequence[Party] = ()
    reply_to: Party | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    template_id: str | None = None
    template_version: int | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    attachments: Sequence[Attachment] = ()
    custom_id: str = ""
    event_payload: str = ""
    campaign: str = ""
    deduplicate: bool = False
    track_opens: bool = False
    track_clicks: bool = False
    # Mailjet's 0 to 3; every transactional message is in the priority lane,
    # higher ones ahead of lower ones.
    priority: int = 2
    # A test send's stand-in contact (its fields and properties), instead of
    # the contact found by address.
    sample: Mapping[str, Any] | None = None
    # A template's test send: its links lead to a page saying so (TEST_MESSAGE_PREFIX).
    test: bool = False
    # Fetch every link before accepting (`courriel.policy.links`); also on for
    # every message with the setting `link_check_messages`.
    check_links: bool = False


@dataclass(frozen=True)
class Problem:
    """Why a message cannot be sent, in the Send API's terms.

    `code` is Mailjet's (``mj-0013``, ``send-0008``…), `status` the HTTP status
    it goes with, `related` the payload properties concerned.
    """

    code: str
    status: int
    message: str
    related: tuple[str, ...]


class MessageRefusedError(Exception):
    """A message that failed its checks; nothing of it was stored or spooled."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)

    def as_input_error(self) -> InvalidInputError:
        """The first problem, as the native API reports it (problem+json naming the field)."""
        first = self.problems[0]
        return InvalidInputError(first.related[0] if first.related else "message", first.message)


@dataclass(frozen=True)
class RecipientResult:
    """What became of one recipient: its ids, and whether it was queued."""

    email: str
    kind: str
    message_id: str
    uuid: str
    number: int
    status: MessageStatus
    reason: str = ""


@dataclass(frozen=True)
class Submitted:
    """A message accepted: one result per recipient (To, then Cc, then Bcc)."""

    custom_id: str
    recipients: list[RecipientResult]


@dataclass(frozen=True)
class MessageHistory:
    """A transactional message and what happened to it since."""

    record: TransactionalMessage
    events: list[Event]


@dataclass
class _Copy:
    party: Party
    kind: str
    address: str
    message_id: str
    uuid: str
    contact: Contact | None = None
    status: MessageStatus = MessageStatus.QUEUED
    reason: str = ""
    body: bytes = b""


class TransactionalService:
    """Submits transactional messages of the principal's tenant and reports on them."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        secret_key: bytes,
        *,
        spool: Spool,
        templates: TemplateService,
        dkim_keys: DkimKeyService,
        sender_domains: SenderDomainService,
        policy: PolicyService,
        links: LinkChecker | None = None,
        link_preferences: LinkCheckPreferences | None = None,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._key = secret_key
        self._spool = spool
        self._templates = templates
        self._dkim_keys = dkim_keys
        self._sender_domains = sender_domains
        self._sending = SendingCheck(storage, clock, policy)
        self._links = links
        self._link_preferences = link_preferences
        self._composers = ComposerCache()
        self._test_sends = _WindowLimit(settings.test_send_limit_per_minute, 60)

    # -- submitting -------------------------------------------------------

    def submit(
        self, principal: Principal, message: OutgoingMessage, *, sandbox: bool = False
    ) -> Submitted:
        """Check, compose and spool one message; MessageRefusedError says why it cannot go.

        With `sandbox`, everything is checked and composed, nothing is stored
        or sent, and the results carry no ids (as Mailjet's SandboxMode).
        """
        (outcome,) = self.submit_many(principal, [message], sandbox=sandbox)
        if isinstance(outcome, MessageRefusedError):
            raise outcome
        return outcome

    def submit_many(
        self, principal: Principal, messages: Sequence[OutgoingMessage], *, sandbox: bool = False
    ) -> list[Submitted | MessageRefusedError]:
        """`submit` for each message, in order; one refused does not stop the others.

        The accepted ones are committed together (one transaction in the
        tenant database, one in the spool), which is what makes a batch of
        fifty cheap.
        """
        principal.require(Capability.CAMPAIGNS_SEND)
        now = self._clock.now()
        senders: dict[str, MessageRefusedError | None] = {}
        checked: list[_Prepared | MessageRefusedError] = []
        # Asked once per request: the tenant's choice (or the installation's).
        every = self._link_preferences is not None and self._link_preferences.of_tenant(
            principal.tenant_id
        ).checks("messages")
        for message in messages:
            if every and not message.check_links:
                message = dataclasses.replace(message, check_links=True)  # noqa: PLW2901
            try:
                checked.append(self._check(principal, message, now, senders))
            except MessageRefusedError as exc:
                checked.append(exc)
        passed = [o for o in checked if isinstance(o, _Prepared)]
        if passed:
            with self._storage.tenant(principal.tenant_id)() as session:
                self._holds(session, principal.tenant_id, passed)
        outcomes: list[_Prepared | MessageRefusedError] = []
        for item in checked:
            try:
                outcomes.append(
                    item
                    if isinstance(item, MessageRefusedError)
                    else self._compose_all(principal, item, now)
                )
            except MessageRefusedError as exc:
                outcomes.append(exc)
        prepared = [o for o in outcomes if isinstance(o, _Prepared)]
        try:
            self._check_policy(principal, sum(len(p.copies) for p in prepared))
        except MessageRefusedError as exc:
            return [exc for _ in messages]
        numbers: dict[str, int] = {}
        if not sandbox and prepared:
            numbers = self._commit(principal.tenant_id, prepared, now)
        return [
            o if isinstance(o, MessageRefusedError) else _submitted(o, numbers, sandbox=sandbox)
            for o in outcomes
        ]

    def _check(
        self,
        principal: Principal,
        message: OutgoingMessage,
        now: dt.datetime,
        senders: dict[str, MessageRefusedError | None],
    ) -> _Prepared:
        """The checks of one message that need no recipient data, and its content."""
        problems = self._validate(message)
        if problems:
            raise MessageRefusedError(problems)
        self._check_sender(principal, message, senders)
        version = self._content(principal, message, now)
        self._check_links(principal, message, version)
        return _Prepared(message, version, self._copies(message))

    def _check_links(
        self, principal: Principal, message: OutgoingMessage, version: TemplateVersion
    ) -> None:
        """Refuse a message with a dead, refused, blocklisted or phishing-style link, when asked."""
        if self._links is None or not message.check_links:
            return
        reports = self._links.check_html(principal.tenant_id, version.html or "")
        refused = [r for r in reports if r.blocking]
        if refused:
            raise MessageRefusedError(
                [Problem("link-check", 400, r.line, ("HTMLPart",)) for r in refused]
            )

    def _compose_all(
        self, principal: Principal, prepared: _Prepared, now: dt.datetime
    ) -> _Prepared:
        """Compose and sign the copies that may go."""
        message, version = prepared.message, prepared.version
        composer = self._composer(principal, message, version)
        visible = _visible(message)
        for copy in prepared.copies:
            if copy.status is not MessageStatus.QUEUED:
                continue
            copy.body = self._compose(
                composer, message, copy, version=version, visible=visible, now=now
            )
        return prepared

    def _validate(self, message: OutgoingMessage) -> list[Problem]:
        problems: list[Problem] = []

        def bad(code: str, text: str, *related: str) -> None:
            problems.append(Problem(code, 400, text, related))

        _validate_parties(message, bad)
        _validate_content(message, bad)
        _validate_extras(message, bad)
        size = sum(len(a.content) for a in message.attachments)
        limit = self._settings.transactional_max_attachment_bytes
        if size > limit:
            bad(
                "mj-0011",
                f"attachments are {size} bytes, more than the {limit} allowed",
                "Attachments",
            )
        return problems

    def _check_sender(
        self,
        principal: Principal,
        message: OutgoingMessage,
        seen: dict[str, MessageRefusedError | None],
    ) -> None:
        """Never free webmail; the domain must be a verified sender domain of the tenant."""
        address = normalize_address(message.sender.email)
        domain = address.rpartition("@")[2]
        if domain not in seen:
            try:
                self._sender_domains.check_sender(principal, _SenderOnly(address))
                seen[domain] = None
            except InvalidInputError as exc:
                seen[domain] = MessageRefusedError(
                    [Problem("send-0008", 403, f"From: {exc.reason}", ("From",))]
                )
        refused = seen[domain]
        if refused is not None:
            raise MessageRefusedError(refused.problems)

    def _check_policy(self, principal: Principal, count: int) -> None:
        """A suspended tenant sends nothing; a limited one at most its hourly cap (`rules`)."""
        refusal = self._sending.refusal(principal, count)
        if refusal is not None:
            status = 429 if refusal.later else 403
            raise MessageRefusedError([Problem("mj-0001", status, refusal.detail, ())])

    def _content(
        self, principal: Principal, message: OutgoingMessage, now: dt.datetime
    ) -> TemplateVersion:
        """The version to compose from: the stored template's, or one made of the parts."""
        if message.template_id is not None:
            try:
                _template, stored = self._templates.get(
                    principal, message.template_id, message.template_version
                )
            except NotFoundError as exc:
                raise MessageRefusedError(
                    [Problem("send-0010", 400, str(exc), ("TemplateID",))]
                ) from None
            content = Content(
                subject=message.subject or stored.subject,
                html=stored.html,
                text=message.text if message.text is not None else stored.text,
                headers={**stored.headers, **message.headers},
                sender_name=stored.sender_name,
                reply_to=stored.reply_to,
                template_id=stored.template_id,
                defaults=stored.defaults,
            )
        else:
            content = Content(
                subject=message.subject or "",
                html=message.html,
                text=message.text,
                headers=message.headers,
            )
        try:
            return inline_version(content, now)
        except InvalidInputError as exc:
            related = _property(exc.field)
            raise MessageRefusedError([Problem("mj-0005", 400, exc.reason, (related,))]) from None

    def _copies(self, message: OutgoingMessage) -> list[_Copy]:
        # "If a recipient is specified twice (in To, Cc or Bcc), it is counted
        # only once" (Mailjet): the first mention wins.
        copies: list[_Copy] = []
        seen: set[str] = set()
        for kind, parties in (("to", message.to), ("cc", message.cc), ("bcc", message.bcc)):
            for party in parties:
                address = normalize_address(party.email)
                if address in seen:
                    continue
                seen.add(address)
                prefix = TEST_MESSAGE_PREFIX if message.test else "msg"
                copies.append(_Copy(party, kind, address, new_id(prefix), str(uuid.uuid4())))
        return copies

    def _holds(self, session: Session, tenant_id: str, prepared: list[_Prepared]) -> None:
        """Mark the copies that must not go, with the reason (suppressed, restricted, repeat).

        The same holds as for relayed mail (`rules.holds`), for a whole batch.
        """
        copies = [c for p in prepared for c in p.copies]
        found = holds(session, address_hasher(self._key, tenant_id), (c.address for c in copies))
        for copy in copies:
            copy.contact = found.contacts.get(copy.address)
            reason = found.reasons.get(copy.address)
            if reason is not None:
                copy.status = MessageStatus.BLOCKED
                copy.reason = reason
        for item in prepared:
            if item.message.deduplicate and item.message.campaign:
                self._hold_repeats(session, item)

    def _hold_repeats(self, session: Session, prepared: _Prepared) -> None:
        # DeduplicateCampaign: once per recipient and campaign.
        message = prepared.message
        already = set(
            session.scalars(
                select(TransactionalMessage.recipient).where(
                    TransactionalMessage.campaign == message.campaign,
                    TransactionalMessage.recipient.in_([c.address for c in prepared.copies]),
                    TransactionalMessage.status == MessageStatus.QUEUED,
                )
            )
        )
        for copy in prepared.copies:
            if copy.status is MessageStatus.QUEUED and copy.address in already:
                copy.status = MessageStatus.DEDUPLICATED
                copy.reason = f"already sent in campaign {message.campaign!r}"

    def _composer(
        self, principal: Principal, message: OutgoingMessage, version: TemplateVersion
    ) -> Composer:
        settings = self._settings
        sender_email = normalize_address(message.sender.email)
        sender = Sender(
            email=sender_email,
            name=message.sender.name,
            reply_to=normalize_address(message.reply_to.email) if message.reply_to else "",
            return_path_domain=settings.return_path_domain,
        )
        tracking = message.track_opens or message.track_clicks
        send = SendContext(
            tenant_id=principal.tenant_id,
            public_url=settings.public_url,
            secret_key=self._key,
            marketing=False,
            tracking=tracking,
            track_opens=message.track_opens,
            track_clicks=message.track_clicks,
        )
        key = composer_key(principal.tenant_id, version, sender, send, message.attachments)
        domain = sender_email.rpartition("@")[2]
        return self._composers.get(
            key,
            lambda: Composer(
                version,
                sender,
                send,
                self._dkim_keys.signers(principal.tenant_id, domain),
                attachments=message.attachments,
            ),
        )

    def _compose(
        self,
        composer: Composer,
        message: OutgoingMessage,
        copy: _Copy,
        *,
        version: TemplateVersion,
        visible: tuple[str, str | None],
        now: dt.datetime,
    ) -> bytes:
        to_header, cc_header = visible
        contact = copy.contact
        values: dict[str, Any] = {"email": copy.address}
        properties: dict[str, Any] | None = None
        if message.sample is not None:
            sample = dict(message.sample)
            values.update({k: sample.pop(k, None) for k in _CONTACT_FIELDS if k != "email"})
            properties = sample
        elif contact is not None:
            values.update(
                first_name=contact.first_name,
                last_name=contact.last_name,
                language=contact.language,
                timezone=contact.timezone,
            )
            properties = contact.properties
        recipient = Recipient(
            message_id=copy.message_id,
            email=copy.address,
            name=copy.party.name,
            contact=contact_context(values, properties, version.defaults),
            language=values.get("language"),
            timezone=values.get("timezone"),
            # A contact who objected to tracking (GDPR Art. 21) is never tracked.
            tracking=not (contact is not None and contact.no_tracking),
            variables=message.variables,
            to_header=to_header,
            cc_header=cc_header,
        )
        try:
            return composer.compose(recipient, now)
        except RenderError as exc:
            related = "TemplateID" if message.template_id else "HTMLPart"
            raise MessageRefusedError(
                [Problem("mj-0005", 400, str(exc), (related, "Variables"))]
            ) from None

    def _commit(
        self, tenant_id: str, prepared: list[_Prepared], now: dt.datetime
    ) -> dict[str, int]:
        """Records and first events in the tenant database, then the priority lane."""
        records = [_record(p.message, p.version, c, now) for p in prepared for c in p.copies]
        events = [_first_event(p.message, c, now) for p in prepared for c in p.copies]
        with transaction(self._storage.tenant(tenant_id)) as session:
            session.add_all(records)
            session.flush()
            numbers = {r.id: r.number for r in records}
            record_events(session, events)
        domain = self._settings.return_path_domain
        # Durable before the caller hears "success" (DESIGN.md, crash safety).
        self._spool.enqueue(
            [
                NewMessage(
                    tenant_id=tenant_id,
                    message_id=c.message_id,
                    campaign_id=None,
                    contact_id=c.contact.id if c.contact else None,
                    mail_from=encode_return_path(self._key, tenant_id, c.message_id, domain),
                    rcpt_to=c.address,
                    body=c.body,
                    transfer_ready=True,
                    priority=1 + p.message.priority,
                )
                for p in prepared
                for c in p.copies
                if c.status is MessageStatus.QUEUED
            ],
            now=now,
            lifetime=dt.timedelta(hours=self._settings.queue_lifetime_hours),
        )
        return numbers

    # -- test sends -------------------------------------------------------

    def test_send(
        self,
        principal: Principal,
        template_id: str,
        *,
        to: str,
        from_email: str,
        from_name: str = "",
        version: int | None = None,
        contact_id: str | None = None,
        sample: dict[str, Any] | None = None,
    ) -> str:
        """One message of a template to `to`, through every check a real message passes.

        Test sends are transactional messages: the From domain must be a
        verified sender domain (never free webmail), the sending policy
        applies, a suppressed address receives nothing, and a tenant makes
        at most `test_send_limit_per_minute` of them a minute.
        """
        principal.require(Capability.CAMPAIGNS_SEND)
        self._test_sends.take(principal.tenant_id)
        if contact_id is not None:
            # Masked as the principal's rights say, and recorded as a read.
            fields = self._templates.contact_fields(principal, contact_id, "test-send")
            sample = {**fields.properties, **fields.values()}
            sample.pop("email", None)
        message = OutgoingMessage(
            sender=Party(from_email, from_name),
            to=[Party(to)],
            template_id=template_id,
            template_version=version,
            sample=sample or {},
            test=True,
        )
        try:
            submitted = self.submit(principal, message)
        except MessageRefusedError as exc:
            first = exc.problems[0]
            if first.code == "send-0010":
                raise NotFoundError(first.message) from None
            related = first.related[0] if first.related else ""
            field_name = _TEST_SEND_FIELDS.get(
                related.partition("[")[0].partition(".")[0], "template"
            )
            raise InvalidInputError(field_name, first.message) from None
        (result,) = submitted.recipients
        if result.status is not MessageStatus.QUEUED:
            raise InvalidInputError("to", f"{result.email} receives no mail: {result.reason}")
        return result.message_id

    # -- reading ----------------------------------------------------------

    def get(self, principal: Principal, reference: str) -> MessageHistory:
        """A message by its id, MessageUUID or MessageID, with its events in order."""
        principal.require(Capability.EVENTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            query = select(TransactionalMessage)
            if reference.isdigit() and len(reference) <= 18:
                query = query.where(TransactionalMessage.number == int(reference))
            elif reference.startswith(("msg_", f"{TEST_MESSAGE_PREFIX}_")):
                query = query.where(TransactionalMessage.id == reference)
            else:
                query = query.where(TransactionalMessage.uuid == reference)
            record = session.scalar(query)
            if record is None:
                raise NotFoundError(f"no message {reference!r}")
            events = list(
                session.scalars(
                    select(Event).where(Event.message_id == record.id).order_by(Event.seq)
                )
            )
            session.expunge_all()
        return MessageHistory(record, events)


# The test-send API's fields, by the Send API property a problem names.
_TEST_SEND_FIELDS = {"From": "from_email", "To": "to", "Subject": "template", "Variables": "sample"}


class _WindowLimit:
    """At most `limit` uses per key in a fixed window (this process's count).

    Several HTTP processes each count their own: the limit is per process,
    enough to stop a loop of test sends from one script.
    """

    def __init__(self, limit: int, window_s: int) -> None:
        self._limit = limit
        self._window = window_s
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Count one use; RateLimitedError when the window's limit is reached."""
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(key, (now, 0))
            if now - start >= self._window:
                start, count = now, 0
            if count >= self._limit:
                retry = max(1, int(self._window - (now - start)) + 1)
                raise RateLimitedError(
                    f"at most {self._limit} test sends a minute; try again in {retry} s", retry
                )
            self._counts[key] = (start, count + 1)
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self._window}


@dataclass(frozen=True)
class _Prepared:
    # A message that passed its checks, composed for each recipient.
    message: OutgoingMessage
    version: TemplateVersion
    copies: list[_Copy]


def _submitted(prepared: _Prepared, numbers: dict[str, int], *, sandbox: bool) -> Submitted:
    return Submitted(
        prepared.message.custom_id,
        [
            RecipientResult(
                c.address,
                c.kind,
                "" if sandbox else c.message_id,
                "" if sandbox else c.uuid,
                0 if sandbox else numbers[c.message_id],
                c.status,
                c.reason,
            )
            for c in prepared.copies
        ],
    )


def _record(
    message: OutgoingMessage, version: TemplateVersion, copy: _Copy, now: dt.datetime
) -> TransactionalMessage:
    return TransactionalMessage(
        id=copy.message_id,
        uuid=copy.uuid,
        status=copy.status,
        reason=copy.reason,
        from_email=normalize_address(message.sender.email),
        recipient=copy.address,
        kind=copy.kind,
        subject=version.subject[:998],
        custom_id=message.custom_id,
        event_payload=message.event_payload,
        campaign=message.campaign,
        template_id=message.template_id,
        created_at=now,
    )


def _first_event(message: OutgoingMessage, copy: _Copy, now: dt.datetime) -> NewEvent:
    # Queued, or skipped with its reason: the start of the message's history.
    detail: dict[str, Any] = {"transactional": True}
    if message.custom_id:
        detail["custom_id"] = message.custom_id
    if copy.reason:
        detail["reason"] = copy.reason
    return NewEvent(
        type=EventType.QUEUED if copy.status is MessageStatus.QUEUED else EventType.SKIPPED,
        occurred_at=now,
        message_id=copy.message_id,
        contact_id=copy.contact.id if copy.contact else None,
        detail=detail,
        dedupe_key=f"{copy.message_id}:submitted",
    )


@dataclass(frozen=True)
class _SenderOnly:
    # What `SenderDomainService.check_sender` reads of a send.
    from_email: str


def _visible(message: OutgoingMessage) -> tuple[str, str | None]:
    """The To and Cc fields every copy shows (Bcc recipients are never shown)."""
    to = ", ".join(h.address(p.name, normalize_address(p.email)) for p in message.to)
    cc = ", ".join(h.address(p.name, normalize_address(p.email)) for p in message.cc)
    return to, cc or None


def _address(value: str, related: str, bad: Bad) -> None:
    if not value:
        bad("mj-0012", f"{related} must not be empty", related)
        return
    try:
        normalize_address(value, related)
    except InvalidInputError:
        bad("mj-0013", f'"{value[:320]}" is an invalid email address.', related)


def _one_line(value: str, related: str, limit: int, bad: Bad, code: str = "mj-0005") -> None:
    if any(ch in value for ch in "\r\n\x00"):
        bad(code, f"{related} must be one line without CR, LF or NUL", related)
    elif len(value) > limit:
        bad("mj-0006", f"{related} is at most {limit} characters", related)


def _property(field_name: str) -> str:
    # Fields of the content checks, named as the Send API calls them.
    names = {"subject": "Subject", "html": "HTMLPart", "text": "TextPart", "reply_to": "ReplyTo"}
    head, _, rest = field_name.partition(".")
    if head == "headers":
        return f"Headers.{rest}"
    return names.get(head, field_name)


Bad = Callable[..., None]


def _validate_parties(message: OutgoingMessage, bad: Bad) -> None:
    _address(message.sender.email, "From.Email", bad)
    _one_line(message.sender.name, "From.Name", 200, bad)
    if not message.to:
        bad("mj-0007", "To must contain at least one recipient", "To")
    total = 0
    for kind, parties in (("To", message.to), ("Cc", message.cc), ("Bcc", message.bcc)):
        for index, party in enumerate(parties):
            total += 1
            _address(party.email, f"{kind}[{index}].Email", bad)
            _one_line(party.name, f"{kind}[{index}].Name", 200, bad)
    if total > MAX_RECIPIENTS:
        bad(
            "send-0015", f"at most {MAX_RECIPIENTS} recipients in To, Cc and Bcc", "To", "Cc", "Bcc"
        )
    if message.reply_to is not None:
        _address(message.reply_to.email, "ReplyTo.Email", bad)


def _validate_content(message: OutgoingMessage, bad: Bad) -> None:
    if message.subject is not None:
        _one_line(message.subject, "Subject", MAX_SUBJECT, bad, code="mj-0006")
    has_parts = message.text is not None or message.html is not None
    if message.template_id is None and not has_parts:
        bad(
            "send-0003",
            'At least "HTMLPart", "TextPart" or "TemplateID" must be provided.',
            "HTMLPart",
            "TextPart",
            "TemplateID",
        )
    if message.template_id is not None and message.html is not None:
        bad("send-0004", "give HTMLPart or TemplateID, not both", "HTMLPart", "TemplateID")
    if message.template_id is None and has_parts and not (message.subject or "").strip():
        bad("mj-0003", "Subject is mandatory with TextPart or HTMLPart", "Subject")
    if len(message.variables) > MAX_VARIABLES:
        bad("mj-0008", f"at most {MAX_VARIABLES} variables", "Variables")
    for name in message.variables:
        if not name.isidentifier() or name.startswith("_"):
            bad(
                "mj-0005",
                f"variable name {name!r} must be a letter then letters, digits or _",
                f"Variables.{name}",
            )
    try:
        h.validate_custom_headers(dict(message.headers))
    except InvalidInputError as exc:
        bad("send-0011", exc.reason, exc.field.replace("headers.", "Headers.", 1))


def _validate_extras(message: OutgoingMessage, bad: Bad) -> None:
    if message.deduplicate and not message.campaign:
        bad(
            "send-0012",
            "DeduplicateCampaign needs a CustomCampaign",
            "CustomCampaign",
            "DeduplicateCampaign",
        )
    if not 0 <= message.priority <= 3:
        bad("mj-0005", "Priority must be 0, 1, 2 or 3", "Priority")
    if len(message.custom_id) > MAX_CUSTOM_ID:
        bad("mj-0006", f"CustomID is at most {MAX_CUSTOM_ID} characters", "CustomID")
    if len(message.event_payload) > MAX_EVENT_PAYLOAD:
        bad("mj-0006", f"EventPayload is at most {MAX_EVENT_PAYLOAD} characters", "EventPayload")
    _one_line(message.campaign, "CustomCampaign", 255, bad)
