"""Data-subject requests (GDPR Arts. 15–21): recorded with a deadline, then answered.

A request names one contact of the principal's tenant and a right. It is
recorded `open` with a deadline 30 days after receipt (Art. 12(3): one
month), and is answered by `fulfil` — which does what the right asks at
once — or `reject` with a reason. Every step is written to the tenant's
audit trail in the same transaction as the change it describes; the trail
gets ids and counts, never an address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from courriel.audience.access import contact_in_reach, reachable
from courriel.audience.branding import privacy_contacts
from courriel.audience.models import Contact, Suppression, SuppressionReason
from courriel.audience.reactions import suppress_contact
from courriel.core.addresses import address_key, normalize_address, tenant_address_hash
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.pagination import Page, paginate
from courriel.core.principal import Capability, Principal
from courriel.core.states import Transitions
from courriel.core.storage import Storage
from courriel.delivery.spool import Spool
from courriel.privacy import dossier, erasure_log
from courriel.privacy.erasure import (
    Person,
    erase_rows,
    erasure_certificate,
    forget_in_storage,
    withdraw_for_erasure,
)
from courriel.privacy.governance import Notice
from courriel.privacy.models import (
    DataSubjectRequest,
    ObjectionGround,
    RequestStatus,
    RequestType,
)
from courriel.privacy.rectify import apply_changes, check_changes
from courriel.privacy.withhold import mark_withdrawn, queued_message_ids, take_from_spool

DEADLINE = dt.timedelta(days=30)
TRANSITIONS = Transitions(
    "request",
    {
        RequestStatus.OPEN: {RequestStatus.FULFILLED, RequestStatus.REJECTED},
        RequestStatus.FULFILLED: set(),
        RequestStatus.REJECTED: set(),
    },
)
Format = Literal["json", "html", "csv"]
_EXPORTABLE = (RequestType.ACCESS, RequestType.PORTABILITY)
_LIFTABLE = (RequestType.RESTRICTION, RequestType.OBJECTION)
MAX_REASON = 1000


@dataclass(frozen=True)
class Actor:
    """Who acts and from where, for the request row and the audit trail."""

    tenant_id: str
    name: str
    channel: str = "api"
    source_ip: str | None = None
    # Its lists and field rights decide what an export shows (None: everything).
    principal: Principal | None = None

    @classmethod
    def of(cls, principal: Principal, channel: str = "api", ip: str | None = None) -> Actor:
        """The actor of an authenticated principal."""
        principal.require(Capability.PRIVACY_REQUESTS)
        return cls(principal.tenant_id, principal.actor, channel, ip, principal)


@dataclass(frozen=True)
class NewRequest:
    """A request as a caller gives it: the right, the person, and its inputs."""

    type: str
    contact_id: str | None = None
    email: str | None = None
    received_at: dt.datetime | None = None
    changes: Mapping[str, Any] | None = None
    lift: bool = False
    # An objection's ground (Art. 21): "direct-marketing" or "profiling".
    ground: str | None = None


def _require_reach(
    session: Session, actor: Actor, request: DataSubjectRequest, request_id: str
) -> None:
    """NotFoundError when the request's person is on none of the actor's lists."""
    principal = actor.principal
    if principal is None or principal.lists is None or request.contact_id is None:
        return
    try:
        contact_in_reach(session, principal, request.contact_id)
    except NotFoundError:
        raise NotFoundError(f"no data-subject request {request_id!r}") from None


class DataSubjectRights:
    """Record, answer, list and export data-subject requests of one tenant per call."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        secret_key: bytes,
        spool: Spool,
        notice: Notice | None = None,
    ) -> None:
        self._notice = notice or Notice()
        self._storage = storage
        self._clock = clock
        self._key = secret_key
        self._spool = spool

    @property
    def notice(self) -> Notice:
        """The installation's notice: what a tenant that named nobody shows."""
        return self._notice

    def notice_of(self, tenant_id: str) -> Notice:
        """Who answers for a tenant's contacts' data and where to complain: the
        tenant's own contacts (it is their controller), else the installation's."""
        with self._storage.tenant(tenant_id)() as session:
            return _merged(self._notice, privacy_contacts(session))

    # Recording -------------------------------------------------------------

    def create(self, actor: Actor, new: NewRequest) -> DataSubjectRequest:
        """Record a request (open, deadline 30 days after receipt); nothing else changes."""
        kind = _kind(new.type)
        now = self._clock.now()
        received = self._received(new.received_at, now)
        if new.lift and kind not in _LIFTABLE:
            raise InvalidInputError("lift", "only a restriction or an objection can be lifted")
        if new.changes is not None and kind is not RequestType.RECTIFICATION:
            raise InvalidInputError("changes", "only a rectification request carries changes")
        ground = _ground(kind, new.ground)
        with transaction(self._storage.tenant(actor.tenant_id)) as session:
            contact = self._person(session, new)
            detail: dict[str, Any] = {"lift": True} if new.lift else {}
            if ground is not None:
                detail["ground"] = ground.value
            if kind is RequestType.RECTIFICATION:
                if new.changes is None:
                    raise InvalidInputError("changes", "name at least one field to rectify")
                detail["changes"] = check_changes(session, new.changes)
            request = DataSubjectRequest(
                id=new_id("dsr"),
                type=kind,
                status=RequestStatus.OPEN,
                contact_id=contact.id,
                channel=actor.channel,
                principal=actor.name,
                received_at=received,
                deadline_at=received + DEADLINE,
                detail=detail,
            )
            session.add(request)
            self._audit(session, actor, "privacy.request.created", request, {"lift": new.lift})
        return request

    def _received(self, value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        if value is None:
            return now
        if value.tzinfo is None:
            raise InvalidInputError("received_at", "must include a time zone")
        if value > now:
            raise InvalidInputError("received_at", "must not be in the future")
        return value

    def _person(self, session: Session, new: NewRequest) -> Contact:
        if (new.contact_id is None) == (new.email is None):
            raise InvalidInputError("contact_id", "give exactly one of contact_id or email")
        if new.email is not None:
            address = normalize_address(new.email, "email")
            found = session.scalar(select(Contact).where(Contact.email_key == address_key(address)))
            if found is None:
                raise NotFoundError("email: no contact has this address")
            return found
        assert new.contact_id is not None
        found = session.get(Contact, new.contact_id)
        if found is not None:
            return found
        self._refuse_erased(session, new.contact_id)
        raise NotFoundError(f"contact_id: no contact {new.contact_id!r}")

    @staticmethod
    def _refuse_erased(session: Session, contact_id: str) -> None:
        erased = session.scalars(
            select(DataSubjectRequest).where(
                DataSubjectRequest.contact_id == contact_id,
                DataSubjectRequest.type == RequestType.ERASURE,
                DataSubjectRequest.status == RequestStatus.FULFILLED,
            )
        ).first()
        if erased is not None and erased.closed_at is not None:
            raise ConflictError(
                f"contact_id: contact {contact_id!r} was erased on "
                f"{erased.closed_at.date().isoformat()} (request {erased.id})"
            )

    # Reading ---------------------------------------------------------------

    def get(self, actor: Actor, request_id: str) -> DataSubjectRequest:
        """One request of the actor's tenant."""
        with self._storage.tenant(actor.tenant_id)() as session:
            found = get_or_not_found(
                session, DataSubjectRequest, request_id, "data-subject request"
            )
            _require_reach(session, actor, found, request_id)
            return found

    def list_requests(
        self,
        actor: Actor,
        cursor: str | None,
        limit: int,
        status: RequestStatus | None = None,
        contact_id: str | None = None,
    ) -> Page[DataSubjectRequest]:
        """The tenant's requests, a page at a time, optionally by status or contact."""
        query: Select[tuple[DataSubjectRequest]] = select(DataSubjectRequest)
        if status is not None:
            query = query.where(DataSubjectRequest.status == status)
        if contact_id is not None:
            query = query.where(DataSubjectRequest.contact_id == contact_id)
        if actor.principal is not None:
            query = reachable(query, actor.principal, DataSubjectRequest.contact_id)
        with self._storage.tenant(actor.tenant_id)() as session:
            return paginate(session, query, DataSubjectRequest.id, cursor, limit)

    def certificate(self, actor: Actor, request_id: str) -> dict[str, Any]:
        """The certificate of a fulfilled erasure request."""
        request = self.get(actor, request_id)
        if request.type is not RequestType.ERASURE:
            raise ConflictError(f"a {request.type.value} request has no erasure certificate")
        if request.certificate is None:
            raise ConflictError(f"the erasure request is {request.status.value}, not fulfilled")
        return dict(request.certificate)

    def export(self, actor: Actor, request_id: str, fmt: Format) -> str:
        """The person's data for an access or portability request, in `fmt`."""
        if fmt not in ("json", "html", "csv"):
            raise InvalidInputError("format", "must be json, html or csv")
        if actor.principal is not None:
            actor.principal.require_personal_read()
        with transaction(self._storage.tenant(actor.tenant_id)) as session:
            request = self._request(session, request_id)
            _require_reach(session, actor, request, request_id)
            if request.type not in _EXPORTABLE:
                raise ConflictError(f"a {request.type.value} request has no data export")
            if request.status is RequestStatus.REJECTED:
                raise ConflictError("this request was rejected")
            contact = self._contact_of(session, request)
            notice = _merged(self._notice, privacy_contacts(session))
            held = dossier.gather(
                session, self._key, actor.tenant_id, contact, self._clock.now(), notice
            )
            self._audit(session, actor, "privacy.data.exported", request, {"format": fmt})
        if actor.principal is not None and actor.principal.masks:
            held = dossier.masked(held, actor.principal)
        if fmt == "html":
            return dossier.as_html(held)
        return dossier.as_csv(held) if fmt == "csv" else dossier.as_json(held)

    # Answering -------------------------------------------------------------

    def erase_now(
        self, principal: Principal, contact_id: str, ip: str | None = None
    ) -> DataSubjectRequest:
        """Erase a contact at once (``DELETE /v1/contacts/{id}``): a request, fulfilled.

        Deleting a contact has always needed `contacts:write` only; it now goes
        through the same erasure, recorded as a request like any other.
        """
        principal.require(Capability.CONTACTS_WRITE)
        actor = Actor(principal.tenant_id, principal.actor, "api", ip)
        request = self.create(actor, NewRequest(RequestType.ERASURE, contact_id=contact_id))
        return self.fulfil(actor, request.id)

    def reject(self, actor: Actor, request_id: str, reason: str) -> DataSubjectRequest:
        """Close a request without acting on it (Art. 12(4)), with the reason given."""
        clean = reason.strip()
        if not clean or len(clean) > MAX_REASON:
            raise InvalidInputError("reason", f"give a reason of 1 to {MAX_REASON} characters")
        with transaction(self._storage.tenant(actor.tenant_id)) as session:
            request = self._request(session, request_id)
            TRANSITIONS.check(request.status, RequestStatus.REJECTED)
            request.status = RequestStatus.REJECTED
            request.closed_at = self._clock.now()
            request.fulfilled_by = actor.name
            request.detail = {
                **{k: v for k, v in request.detail.items() if k != "changes"},
                "reason": clean,
            }
            self._audit(session, actor, "privacy.request.rejected", request, {})
        return request

    def fulfil(self, actor: Actor, request_id: str) -> DataSubjectRequest:
        """Do what the request asks, now, and close it as fulfilled."""
        request = self.get(actor, request_id)
        TRANSITIONS.check(request.status, RequestStatus.FULFILLED)
        if request.type is RequestType.ERASURE:
            return self._erase(actor, request)
        withdrawn: list[str] = []
        if request.type is RequestType.RESTRICTION and not request.detail.get("lift"):
            withdrawn = self._withhold(actor.tenant_id, request.contact_id)
        with transaction(self._storage.tenant(actor.tenant_id)) as session:
            request = self._request(session, request_id)
            TRANSITIONS.check(request.status, RequestStatus.FULFILLED)
            contact = self._contact_of(session, request)
            done = self._apply(session, actor.tenant_id, request, contact)
            mark_withdrawn(session, withdrawn, "restricted")
            if withdrawn:
                done["spool_messages_withdrawn"] = len(withdrawn)
            self._close(session, actor, request, done)
        return request

    def _apply(
        self, session: Session, tenant_id: str, request: DataSubjectRequest, contact: Contact
    ) -> dict[str, Any]:
        now = self._clock.now()
        lift = bool(request.detail.get("lift"))
        if request.type is RequestType.RECTIFICATION:
            fields = apply_changes(session, contact, request.detail.get("changes", {}), now)
            return {"fields": fields}
        if request.type is RequestType.RESTRICTION:
            contact.restricted = not lift
            contact.updated_at = now
            return {"restricted": contact.restricted}
        if request.type is RequestType.OBJECTION:
            return self._object(session, tenant_id, request, contact, lift)
        # Access and portability: answered by the export, which stays available.
        return {}

    def _object(
        self,
        session: Session,
        tenant_id: str,
        request: DataSubjectRequest,
        contact: Contact,
        lift: bool,
    ) -> dict[str, Any]:
        now = self._clock.now()
        contact.updated_at = now
        if request.detail.get("ground") == ObjectionGround.DIRECT_MARKETING.value:
            # Art. 21(3): "the personal data shall no longer be processed for
            # such purposes" — every list of the tenant, not the one mailed.
            # The suppression keeps it so even after the contact is erased.
            if lift:
                digest = tenant_address_hash(self._key, tenant_id, contact.email)
                session.execute(
                    delete(Suppression).where(
                        Suppression.address_hash == digest,
                        Suppression.reason == SuppressionReason.OBJECTION,
                    )
                )
                return {"marketing_suppressed": False}
            suppress_contact(
                session,
                secret_key=self._key,
                tenant_id=tenant_id,
                contact_id=contact.id,
                reason=SuppressionReason.OBJECTION,
                detail="objection to direct marketing",
                now=now,
            )
            return {"marketing_suppressed": True}
        contact.no_tracking = not lift
        return {"no_tracking": contact.no_tracking}

    def _withhold(self, tenant_id: str, contact_id: str) -> list[str]:
        # The flag goes on first, so no new batch resolves the person while
        # the waiting messages are taken out of the spool.
        with transaction(self._storage.tenant(tenant_id)) as session:
            contact = session.get(Contact, contact_id)
            if contact is None:
                return []
            contact.restricted = True
            ids = queued_message_ids(session, contact_id)
        return take_from_spool(self._spool.sessions, tenant_id, contact_id, ids)

    def _erase(self, actor: Actor, request: DataSubjectRequest) -> DataSubjectRequest:
        with self._storage.tenant(actor.tenant_id)() as session:
            contact = self._contact_of(session, request)
            person = Person(contact.id, contact.email)
        withdrawn = withdraw_for_erasure(
            self._storage, self._spool.sessions, actor.tenant_id, person.contact_id
        )
        now = self._clock.now()
        with transaction(self._storage.tenant(actor.tenant_id)) as session:
            request = self._request(session, request.id)
            TRANSITIONS.check(request.status, RequestStatus.FULFILLED)
            self._contact_of(session, request)
            counts = erase_rows(
                session,
                secret_key=self._key,
                tenant_id=actor.tenant_id,
                person=person,
                withdrawn=withdrawn,
                now=now,
            )
            counts["spool_messages"] = len(withdrawn)
            request.certificate = erasure_certificate(actor.tenant_id, request, person, counts, now)
            self._close(session, actor, request, {"counts": counts})
        # Kept outside the tenant database, so a restored backup erases again.
        erasure_log.record(
            self._storage,
            actor.tenant_id,
            tenant_address_hash(self._key, actor.tenant_id, person.address),
            now,
        )
        storage = forget_in_storage(self._storage, actor.tenant_id, person.address)
        with transaction(self._storage.tenant(actor.tenant_id)) as session:
            request = self._request(session, request.id)
            request.certificate = {**(request.certificate or {}), "storage": storage}
        return request

    def _close(
        self,
        session: Session,
        actor: Actor,
        request: DataSubjectRequest,
        done: dict[str, Any],
    ) -> None:
        request.status = RequestStatus.FULFILLED
        request.closed_at = self._clock.now()
        request.fulfilled_by = actor.name
        # Only what was done stays; rectification values live in the contact.
        request.detail = {
            **{k: v for k, v in request.detail.items() if k != "changes"},
            **done,
        }
        self._audit(session, actor, f"privacy.{request.type.value}.fulfilled", request, done)

    # Steps -----------------------------------------------------------------

    @staticmethod
    def _request(session: Session, request_id: str) -> DataSubjectRequest:
        return get_or_not_found(session, DataSubjectRequest, request_id, "data-subject request")

    @staticmethod
    def _contact_of(session: Session, request: DataSubjectRequest) -> Contact:
        contact = session.get(Contact, request.contact_id)
        if contact is None:
            raise ConflictError(f"contact {request.contact_id!r} was erased; nothing is held")
        return contact

    def _audit(
        self,
        session: Session,
        actor: Actor,
        action: str,
        request: DataSubjectRequest,
        detail: Mapping[str, Any],
    ) -> None:
        # Ids, the right and counts only: never an address or a token.
        record_entry(
            session,
            self._clock.now(),
            actor.principal or actor.name,
            action,
            request.contact_id,
            {"request": request.id, "type": request.type.value, **detail},
            actor.source_ip,
        )


def _ground(kind: RequestType, value: str | None) -> ObjectionGround | None:
    names = " or ".join(g.value for g in ObjectionGround)
    if kind is not RequestType.OBJECTION:
        if value is not None:
            raise InvalidInputError("ground", "only an objection has a ground")
        return None
    if value is None:
        raise InvalidInputError("ground", f"an objection says what it is to: {names}")
    try:
        return ObjectionGround(value)
    except ValueError:
        raise InvalidInputError("ground", f"must be {names}") from None


def _kind(value: str) -> RequestType:
    try:
        return RequestType(value)
    except ValueError:
        names = ", ".join(t.value for t in RequestType)
        raise InvalidInputError("type", f"must be one of {names}") from None


def _merged(installation: Notice, tenant: tuple[str, str, str]) -> Notice:
    """The tenant's own privacy contacts, the installation's where it named none."""
    controller, dpo, complaint = tenant
    return Notice(
        controller or installation.controller,
        dpo or installation.dpo,
        complaint or installation.complaint,
    )
