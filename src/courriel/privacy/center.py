"""The recipients' privacy center: what a person can do from any email, without login.

Every email carries a preferences link (`content.links.preferences_url`):
its token names the tenant and the message, under a MAC with the purpose
"preferences", so no other token of ours opens the center. The message names
the contact. The link works for `LINK_LIFETIME` after the message was made;
an erased contact or an unknown message opens nothing.

Each action form carries two more tokens (`audience.tokens`, expiring):

- an action token whose purpose is the action itself
  (``privacy-center:restrict``…), bound to the tenant, contact and message, so
  a token issued for "download my data" never works for "delete me";
- a CSRF token bound to the same and to a random nonce in a SameSite cookie
  (double submit), so another site cannot make a visitor's browser post.

Whatever fails — tampering, expiry, wrong purpose, another person's token —
the answer is the same "not found", so a token reveals nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    MailingList,
    Subscription,
    Suppression,
    SuppressionReason,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.subscriptions import can_move
from courriel.campaigns.models import CampaignRecipient
from courriel.content.links import verify_preferences_token
from courriel.core.addresses import tenant_address_hash
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage
from courriel.core.tokens import sign, verify
from courriel.privacy.governance import Notice
from courriel.privacy.models import DataSubjectRequest, ObjectionGround, RequestType
from courriel.privacy.rights import Actor, DataSubjectRights, NewRequest

# A preferences link stops working this long after its message was made.
LINK_LIFETIME = dt.timedelta(days=365)
# Action and CSRF tokens: long enough to read the page, short enough to be useless later.
FORM_LIFETIME = dt.timedelta(hours=1)
ACTIONS = (
    "subscriptions",
    "download",
    "restrict",
    "tracking",
    "delete",
    "marketing",
    "correct",
)
CSRF = "privacy-center-csrf"
CENTER_FORM = "privacy-center"


@dataclass(frozen=True)
class Visitor:
    """Where a request to the center came from, for the ledger and the audit trail."""

    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class ListChoice:
    """One list the person is on, as the center shows it."""

    list_id: str
    name: str
    purpose: str
    status: str

    @property
    def receiving(self) -> bool:
        """Whether mail of this list still reaches the person (or will, once confirmed)."""
        return self.status in (S.SUBSCRIBED.value, S.PENDING.value)


@dataclass(frozen=True)
class CenterView:
    """What an opened center shows: whose it is and what they can change."""

    tenant_id: str
    message_id: str
    contact_id: str
    email: str
    first_name: str | None
    no_tracking: bool
    restricted: bool
    lists: tuple[ListChoice, ...]
    # The person objected to direct marketing (Art. 21(3)): no marketing at all.
    no_marketing: bool = False
    # What is held about them, shown to them (Art. 15), and who answers for it.
    last_name: str | None = None
    language: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    notice: Notice = field(default_factory=Notice)


class PrivacyCenter:
    """The use cases behind the public privacy-center pages."""

    def __init__(
        self, storage: Storage, clock: Clock, secret_key: bytes, rights: DataSubjectRights
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._key = secret_key
        self._rights = rights

    # Opening ---------------------------------------------------------------

    def open(self, token: str) -> CenterView | None:
        """The center a preferences token opens; None for any token that opens nothing."""
        ref = verify_preferences_token(self._key, token)
        if ref is None:
            return None
        try:
            factory = self._storage.tenant(ref.tenant_id)
        except NotFoundError:
            return None
        with factory() as session:
            row = session.execute(
                select(CampaignRecipient.created_at, Contact)
                .join(Contact, Contact.id == CampaignRecipient.contact_id)
                .where(CampaignRecipient.id == ref.message_id)
            ).first()
            if row is None or row[0] + LINK_LIFETIME < self._clock.now():
                return None
            contact: Contact = row[1]
            lists = session.execute(
                select(MailingList, Subscription.status)
                .join(Subscription, Subscription.list_id == MailingList.id)
                .where(Subscription.contact_id == contact.id)
                .order_by(MailingList.name)
            ).all()
            digest = tenant_address_hash(self._key, ref.tenant_id, contact.email)
            objected = session.scalar(
                select(Suppression.id).where(
                    Suppression.address_hash == digest,
                    Suppression.reason == SuppressionReason.OBJECTION,
                )
            )
        return CenterView(
            tenant_id=ref.tenant_id,
            message_id=ref.message_id,
            contact_id=contact.id,
            email=contact.email,
            first_name=contact.first_name,
            no_tracking=contact.no_tracking,
            restricted=contact.restricted,
            lists=tuple(ListChoice(m.id, m.name, m.purpose, s.value) for m, s in lists),
            no_marketing=objected is not None,
            last_name=contact.last_name,
            language=contact.language,
            properties=tuple(sorted((k, str(v)) for k, v in (contact.properties or {}).items())),
            notice=self._rights.notice_of(ref.tenant_id),
        )

    # Tokens of the forms ---------------------------------------------------

    def _bound(self, view: CenterView) -> dict[str, str]:
        return {"t": view.tenant_id, "c": view.contact_id, "m": view.message_id}

    def action_token(self, view: CenterView, action: str) -> str:
        """The token of one action's form; it works for that action only."""
        expires = self._clock.now() + FORM_LIFETIME
        return sign(self._key, f"privacy-center:{action}", self._bound(view), expires)

    def csrf_token(self, view: CenterView, nonce: str) -> str:
        """The hidden CSRF field, bound to this center and to the visitor's cookie nonce."""
        payload = {**self._bound(view), "n": nonce}
        return sign(self._key, CSRF, payload, self._clock.now() + FORM_LIFETIME)

    def check(self, view: CenterView, action: str, token: str, csrf: str, nonce: str) -> bool:
        """Whether a post carries this action's genuine token and a matching CSRF pair."""
        if action not in ACTIONS or not nonce:
            return False
        now = self._clock.now()
        bound = self._bound(view)
        granted = verify(self._key, f"privacy-center:{action}", token, now)
        forged = verify(self._key, CSRF, csrf, now)
        return (
            granted is not None
            and all(granted.get(k) == v for k, v in bound.items())
            and forged is not None
            and all(forged.get(k) == v for k, v in bound.items())
            and forged.get("n") == nonce
        )

    # Actions ---------------------------------------------------------------

    def _actor(self, view: CenterView, visitor: Visitor) -> Actor:
        return Actor(view.tenant_id, "recipient", "privacy-center", visitor.ip)

    def keep_lists(self, view: CenterView, keep: Collection[str], visitor: Visitor) -> list[str]:
        """Leave every list not in `keep`; return the ids of the lists left now.

        Keeping a list one is subscribed to is the person's own, explicit word
        that they still want it: it is recorded as `reconfirmed` in the
        consent ledger (the consent-renewal workflow template relies on it).
        """
        now = self._clock.now()
        left: list[str] = []
        with transaction(self._storage.tenant(view.tenant_id)) as session:
            subscriptions = session.scalars(
                select(Subscription).where(Subscription.contact_id == view.contact_id)
            )
            for sub in subscriptions:
                if sub.list_id in keep and sub.status is S.SUBSCRIBED:
                    session.add(_consent(view.contact_id, sub.list_id, visitor, now))
                if sub.list_id in keep or sub.status not in (S.SUBSCRIBED, S.PENDING):
                    continue
                if not can_move(sub.status, S.UNSUBSCRIBED):
                    continue
                sub.status = S.UNSUBSCRIBED
                sub.updated_at = now
                session.add(_withdrawal(view.contact_id, sub.list_id, visitor, now))
                left.append(sub.list_id)
            if left:
                record_entry(
                    session,
                    now,
                    "recipient",
                    "consent.withdrawn",
                    view.contact_id,
                    {"lists": left, "channel": CENTER_FORM},
                    visitor.ip,
                )
        return left

    def download(self, view: CenterView, visitor: Visitor) -> str:
        """The person's data as JSON (Art. 15 / 20), recorded as a fulfilled access request."""
        actor = self._actor(view, visitor)
        request = self._rights.create(actor, NewRequest(RequestType.ACCESS, view.contact_id))
        self._rights.fulfil(actor, request.id)
        return self._rights.export(actor, request.id, "json")

    def correct(
        self, view: CenterView, changes: dict[str, str | None], visitor: Visitor
    ) -> DataSubjectRequest | None:
        """Rectify one's address or name (Art. 16): a rectification request, fulfilled now.

        Only what differs from what is held is changed; nothing changed, no request.
        """
        held = {"email": view.email, "first_name": view.first_name, "last_name": view.last_name}
        wanted = {k: v for k, v in changes.items() if k in held and v != held[k]}
        if not wanted:
            return None
        actor = self._actor(view, visitor)
        request = self._rights.create(
            actor, NewRequest(RequestType.RECTIFICATION, view.contact_id, changes=wanted)
        )
        return self._rights.fulfil(actor, request.id)

    def act(
        self,
        view: CenterView,
        kind: RequestType,
        visitor: Visitor,
        ground: ObjectionGround | None = None,
        *,
        lift: bool = False,
    ) -> DataSubjectRequest:
        """Restrict, object (or lift an objection) or erase at once: a request, fulfilled."""
        actor = self._actor(view, visitor)
        new = NewRequest(kind, view.contact_id, ground=ground.value if ground else None, lift=lift)
        request = self._rights.create(actor, new)
        return self._rights.fulfil(actor, request.id)


def _withdrawal(contact_id: str, list_id: str, visitor: Visitor, now: dt.datetime) -> ConsentRecord:
    return _consent(contact_id, list_id, visitor, now, ConsentAction.WITHDRAWN)


def _consent(
    contact_id: str,
    list_id: str,
    visitor: Visitor,
    now: dt.datetime,
    action: ConsentAction = ConsentAction.RECONFIRMED,
) -> ConsentRecord:
    return ConsentRecord(
        contact_id=contact_id,
        list_id=list_id,
        action=action,
        source=ConsentSource.FORM,
        legal_basis="consent",
        purpose_text="",
        form_id=CENTER_FORM,
        ip=(visitor.ip or "")[:45] or None,
        user_agent=(visitor.user_agent or "")[:500] or None,
        principal="recipient",
        occurred_at=now,
    )
