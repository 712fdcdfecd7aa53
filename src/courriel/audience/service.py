"""Audience use cases: lists, contacts, subscriptions with consent, suppressions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from courriel.audience.access import contact_in_reach, reachable, shown_contact
from courriel.audience.export import ExportService
from courriel.audience.importer import ImportService
from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    MailingList,
    RoleAddresses,
    Subscription,
    Suppression,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.properties import (
    PropertyService,
    check_language,
    check_properties,
    check_timezone,
    load_definitions,
)
from courriel.audience.retention import RetentionService
from courriel.audience.search import ContactSearch, search_conditions
from courriel.audience.segments.service import SegmentService
from courriel.audience.subscriptions import can_move, check_move
from courriel.audience.sunset import DEFAULT_MONTHS, MAX_MONTHS
from courriel.audience.suppressions import SuppressionService, erased_only
from courriel.core.addresses import address_key, domain_of, normalize_address, tenant_address_hash
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.pagination import Page, paginate
from courriel.core.principal import Capability, FieldAccess, Principal
from courriel.core.storage import Storage

LEGAL_BASES = frozenset({"consent", "contract", "legitimate-interest", "legal-obligation"})
MAX_NAME = 200


@dataclass(frozen=True)
class ConsentInput:
    """How the person agreed: recorded verbatim in the consent ledger."""

    source: ConsentSource
    purpose_text: str
    legal_basis: str = "consent"
    ip: str | None = None
    user_agent: str | None = None
    form_id: str | None = None
    # The caller attests the double opt-in was completed elsewhere (e.g. a
    # migrated list); otherwise double opt-in lists start as pending.
    confirmed: bool = False


@dataclass(frozen=True)
class ContactInput:
    """A contact as given by a caller, before normalization."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    timezone: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscribeResult:
    """The contact and, per list, the status it ended in (with why when not subscribed)."""

    contact: Contact
    statuses: dict[str, S]


def _clean_text(value: str | None, name: str, limit: int = MAX_NAME) -> str | None:
    if value is None:
        return None
    if any(ch in value for ch in "\r\n\x00"):
        raise InvalidInputError(name, "must not contain line breaks or NUL")
    if len(value) > limit:
        raise InvalidInputError(name, f"must be at most {limit} characters")
    return value.strip() or None


def _require_rights(principal: Principal, contact: ContactInput, list_ids: Sequence[str]) -> None:
    """Refuse a subscription to a list the principal does not see, or a change
    of a personal field it may not edit."""
    for index, list_id in enumerate(list_ids):
        if not principal.sees_list(list_id):
            raise InvalidInputError(f"lists.{index}", f"no list {list_id!r}")
    principal.require_edit("email")
    for name in ("first_name", "last_name"):
        if getattr(contact, name) is not None:
            principal.require_edit(name)
    for name in contact.properties:
        principal.require_edit(f"properties.{name}")


class AudienceService:
    """Lists, contacts and consent of one tenant per call (the principal's)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        secret_key: bytes,
        *,
        properties: PropertyService,
        suppressions: SuppressionService,
        imports: ImportService,
        exports: ExportService,
        segments: SegmentService,
        retention: RetentionService,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._secret_key = secret_key
        # The audience's other use cases, reached through this one for the edges.
        self.properties = properties
        self.suppressions = suppressions
        self.imports = imports
        self.exports = exports
        self.segments = segments
        self.retention = retention

    # Lists ------------------------------------------------------------------

    def create_list(
        self,
        principal: Principal,
        name: str,
        purpose: str = "",
        double_opt_in: bool = True,
        retention_days: int | None = None,
        *,
        tracking: bool = True,
        role_addresses: str = RoleAddresses.FLAG,
        sunset_months: int | None = DEFAULT_MONTHS,
    ) -> MailingList:
        """Create a list; its purpose text is what people are shown when they subscribe.

        The sunset policy is on at `DEFAULT_MONTHS` unless asked otherwise
        (audience/sunset.py says why).
        """
        principal.require(Capability.LISTS_WRITE)
        if principal.lists is not None:
            # Its new list would be outside the user's own lists at once.
            raise ForbiddenError("a user limited to some lists cannot create lists")
        clean = _clean_text(name, "name")
        if not clean:
            raise InvalidInputError("name", "must not be empty")
        if retention_days is not None and not 1 <= retention_days <= 36_500:
            raise InvalidInputError("retention_days", "must be between 1 and 36500 days")
        roles = _role_rule(role_addresses)
        if sunset_months is not None and not 1 <= sunset_months <= MAX_MONTHS:
            raise InvalidInputError(
                "sunset_months", f"must be between 1 and {MAX_MONTHS} months, or null (off)"
            )
        mailing_list = MailingList(
            id=new_id("lst"),
            name=clean,
            purpose=purpose,
            purpose_version=1,
            double_opt_in=double_opt_in,
            retention_days=retention_days,
            tracking=tracking,
            role_addresses=roles,
            sunset_months=sunset_months,
            created_at=self._clock.now(),
        )
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            session.add(mailing_list)
        return mailing_list

    def set_list_tracking(self, principal: Principal, list_id: str, tracking: bool) -> MailingList:
        """Switch tracking of opens and clicks on or off for a list's mail (audited)."""
        principal.require(Capability.LISTS_WRITE)
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            found = get_or_not_found(session, MailingList, list_id, "list")
            found.tracking = tracking
            record_entry(
                session,
                now,
                principal,
                "list.tracking_changed",
                f"list:{list_id}",
                {"tracking": tracking},
            )
        return found

    def set_list_role_addresses(
        self, principal: Principal, list_id: str, role_addresses: str
    ) -> MailingList:
        """Flag or refuse role addresses (`postmaster@`, `noreply@`…) at import and sign-up."""
        principal.require(Capability.LISTS_WRITE)
        principal.require_list(list_id)
        rule = _role_rule(role_addresses)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            found = get_or_not_found(session, MailingList, list_id, "list")
            found.role_addresses = rule
            record_entry(
                session,
                self._clock.now(),
                principal,
                "list.role_addresses_changed",
                f"list:{list_id}",
                {"role_addresses": rule.value},
            )
        return found

    def change_purpose(self, principal: Principal, list_id: str, purpose: str) -> MailingList:
        """Change the purpose text; a new version, so the ledger tells the wordings apart."""
        principal.require(Capability.LISTS_WRITE)
        if not purpose.strip():
            raise InvalidInputError("purpose", "must not be empty")
        principal.require_list(list_id)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            found = get_or_not_found(session, MailingList, list_id, "list")
            if found.purpose != purpose:
                found.purpose = purpose
                found.purpose_version += 1
        return found

    def get_list(self, principal: Principal, list_id: str) -> MailingList:
        """One list of the principal's tenant."""
        principal.require(Capability.LISTS_READ)
        principal.require_list(list_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            return get_or_not_found(session, MailingList, list_id, "list")

    def list_lists(self, principal: Principal, cursor: str | None, limit: int) -> Page[MailingList]:
        """The tenant's lists, a page at a time."""
        principal.require(Capability.LISTS_READ)
        statement: Select[tuple[MailingList]] = select(MailingList)
        if principal.lists is not None:
            statement = statement.where(MailingList.id.in_(sorted(principal.lists)))
        with self._storage.tenant(principal.tenant_id)() as session:
            return paginate(session, statement, MailingList.id, cursor, limit)

    # Contacts ---------------------------------------------------------------

    def subscribe(
        self,
        principal: Principal,
        contact: ContactInput,
        list_ids: Sequence[str],
        consent: ConsentInput,
    ) -> SubscribeResult:
        """Add or update a contact and subscribe it to lists, recording consent.

        Validation happens before anything is written, and everything is
        written in one transaction: a bad input leaves the database as it was.
        A suppressed, unsubscribed or complained address is never turned back
        into a subscriber here.
        """
        principal.require(Capability.CONTACTS_WRITE)
        _require_rights(principal, contact, list_ids)
        email = normalize_address(contact.email)
        first = _clean_text(contact.first_name, "first_name")
        last = _clean_text(contact.last_name, "last_name")
        language = check_language(contact.language)
        timezone = check_timezone(contact.timezone)
        if consent.legal_basis not in LEGAL_BASES:
            raise InvalidInputError(
                "consent.legal_basis", f"must be one of {', '.join(sorted(LEGAL_BASES))}"
            )
        if not consent.purpose_text.strip():
            raise InvalidInputError(
                "consent.purpose_text", "the text shown to the person is required"
            )
        if not list_ids:
            raise InvalidInputError("lists", "name at least one list")
        now = self._clock.now()
        suppressed_hash = tenant_address_hash(self._secret_key, principal.tenant_id, email)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            properties = check_properties(
                load_definitions(session), contact.properties, "properties"
            )
            lists = self._load_lists(session, list_ids)
            if erased_only(session, suppressed_hash):
                raise ConflictError(
                    "email: this address was erased at its owner's request; only a new "
                    "opt-in through a sign-up form can add it again"
                )
            suppressed = session.scalar(
                select(Suppression.id).where(Suppression.address_hash == suppressed_hash)
            )
            row = session.scalar(select(Contact).where(Contact.email_key == address_key(email)))
            if row is None:
                row = Contact(
                    id=new_id("con"),
                    email=email,
                    email_domain=domain_of(email),
                    properties={},
                    created_at=now,
                )
                session.add(row)
            row.first_name = first if first is not None else row.first_name
            row.last_name = last if last is not None else row.last_name
            row.language = language if language is not None else row.language
            row.timezone = timezone if timezone is not None else row.timezone
            row.properties = {**(row.properties or {}), **properties}
            row.updated_at = now
            session.flush()
            statuses = {
                lst.id: self._subscribe_one(
                    session=session,
                    principal=principal,
                    contact=row,
                    mailing_list=lst,
                    consent=consent,
                    suppressed=suppressed,
                )
                for lst in lists
            }
            record_entry(
                session,
                now,
                principal,
                "consent.recorded",
                f"contact:{row.id}",
                {
                    "lists": {k: v.value for k, v in statuses.items()},
                    "source": consent.source.value,
                    "legal_basis": consent.legal_basis,
                    "confirmed": consent.confirmed,
                },
            )
        return SubscribeResult(contact=shown_contact(principal, row), statuses=statuses)

    def _load_lists(self, session: Session, list_ids: Sequence[str]) -> list[MailingList]:
        lists = []
        for index, list_id in enumerate(list_ids):
            found = session.get(MailingList, list_id)
            if found is None:
                raise InvalidInputError(f"lists.{index}", f"no list {list_id!r}")
            lists.append(found)
        return lists

    def _subscribe_one(
        self,
        *,
        session: Session,
        principal: Principal,
        contact: Contact,
        mailing_list: MailingList,
        consent: ConsentInput,
        suppressed: int | None,
    ) -> S:
        now = self._clock.now()
        sub = session.scalar(
            select(Subscription).where(
                Subscription.list_id == mailing_list.id, Subscription.contact_id == contact.id
            )
        )
        confirmed = consent.confirmed or not mailing_list.double_opt_in
        wanted = S.SUBSCRIBED if confirmed else S.PENDING
        if suppressed is not None:
            wanted = S.SUPPRESSED
        if sub is None:
            sub = Subscription(
                list_id=mailing_list.id,
                contact_id=contact.id,
                status=wanted,
                created_at=now,
                updated_at=now,
            )
            session.add(sub)
        elif sub.status in (S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.SUPPRESSED):
            # A person's own choice (or a hard fact like a bounce) stands.
            return sub.status
        elif can_move(sub.status, wanted) and sub.status != wanted:
            sub.status = wanted
            sub.updated_at = now
        if sub.status is not S.SUPPRESSED:
            session.add(
                ConsentRecord(
                    contact_id=contact.id,
                    list_id=mailing_list.id,
                    action=ConsentAction.CONFIRMED if confirmed else ConsentAction.GIVEN,
                    source=consent.source,
                    legal_basis=consent.legal_basis,
                    purpose_text=consent.purpose_text,
                    purpose_version=mailing_list.purpose_version,
                    form_id=consent.form_id,
                    ip=consent.ip,
                    user_agent=consent.user_agent,
                    principal=principal.actor,
                    occurred_at=now,
                )
            )
        return sub.status

    def get_contact(self, principal: Principal, contact_id: str) -> Contact:
        """One contact of the principal's tenant."""
        principal.require(Capability.CONTACTS_READ)
        principal.require_personal_read()
        with self._storage.tenant(principal.tenant_id)() as session:
            return shown_contact(principal, contact_in_reach(session, principal, contact_id))

    def list_contacts(
        self,
        principal: Principal,
        cursor: str | None,
        limit: int,
        search: ContactSearch | None = None,
    ) -> Page[Contact]:
        """The tenant's contacts (those matching `search`, if given), a page at a time."""
        principal.require(Capability.CONTACTS_READ)
        principal.require_personal_read()
        if search == ContactSearch():
            search = None  # every criterion empty: a plain listing
        if search is not None:
            _refuse_search_on_hidden(principal, search)
        everyone: Select[tuple[Contact]] = select(Contact)
        statement = reachable(everyone, principal, Contact.id)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            if search is not None:
                statement = statement.where(*search_conditions(session, search))
            page = paginate(session, statement, Contact.id, cursor, limit)
            # A page of contacts is a read of their personal data.
            record_entry(
                session,
                self._clock.now(),
                principal,
                "contacts.searched" if search is not None else "contacts.listed",
                None,
                {"count": len(page.items), "masked": principal.masks},
            )
        return Page(
            items=[shown_contact(principal, c) for c in page.items], next_cursor=page.next_cursor
        )

    def consent_history(self, principal: Principal, contact_id: str) -> list[ConsentRecord]:
        """The consent ledger of one contact, oldest first."""
        principal.require(Capability.CONTACTS_READ)
        self.get_contact(principal, contact_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            return [
                record
                for record in session.scalars(
                    select(ConsentRecord)
                    .where(ConsentRecord.contact_id == contact_id)
                    .order_by(ConsentRecord.id)
                )
                if record.list_id is None or principal.sees_list(record.list_id)
            ]

    def unsubscribe(
        self, principal: Principal, contact_id: str, list_id: str, source: ConsentSource
    ) -> S:
        """Take a contact off a list, recording the withdrawal in the ledger."""
        principal.require(Capability.CONTACTS_WRITE)
        principal.require_list(list_id)
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            sub = session.scalar(
                select(Subscription).where(
                    Subscription.list_id == list_id, Subscription.contact_id == contact_id
                )
            )
            if sub is None:
                raise NotFoundError(f"contact {contact_id!r} is not on list {list_id!r}")
            if sub.status is S.UNSUBSCRIBED:
                return sub.status
            if sub.status not in (S.PENDING, S.SUBSCRIBED):
                raise ConflictError(f"a {sub.status.value} subscription cannot be unsubscribed")
            check_move(sub.status, S.UNSUBSCRIBED)
            sub.status = S.UNSUBSCRIBED
            sub.updated_at = now
            session.add(
                ConsentRecord(
                    contact_id=contact_id,
                    list_id=list_id,
                    action=ConsentAction.WITHDRAWN,
                    source=source,
                    legal_basis="consent",
                    purpose_text="",
                    principal=principal.actor,
                    occurred_at=now,
                )
            )
            record_entry(
                session,
                now,
                principal,
                "consent.withdrawn",
                f"contact:{contact_id}",
                {"list_id": list_id, "source": source.value},
            )
            return sub.status

    def subscriptions_of(self, principal: Principal, contact_id: str) -> dict[str, S]:
        """The lists a contact is on and its status on each."""
        principal.require(Capability.CONTACTS_READ)
        self.get_contact(principal, contact_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            rows = session.execute(
                select(Subscription.list_id, Subscription.status).where(
                    Subscription.contact_id == contact_id
                )
            )
            return {k: v for k, v in rows.all() if principal.sees_list(k)}


def _refuse_search_on_hidden(principal: Principal, search: ContactSearch) -> None:
    """A search on a field the principal sees masked would reveal it, one guess at a time."""
    wanted = []
    if search.email is not None or search.email_prefix is not None:
        wanted.append("email")
    if search.name is not None:
        wanted += ["first_name", "last_name"]
    if search.property_value is not None:
        wanted.append(f"properties.{search.property_value[0]}")
    for name in wanted:
        if principal.access(name) == FieldAccess.HIDDEN:
            raise ForbiddenError(f"you may not search by {name}: it is hidden from you")


def _role_rule(value: str) -> RoleAddresses:
    try:
        return RoleAddresses(value)
    except ValueError:
        allowed = ", ".join(r.value for r in RoleAddresses)
        raise InvalidInputError("role_addresses", f"must be one of {allowed}") from None
