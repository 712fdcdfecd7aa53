"""Public sign-up with double opt-in.

A person fills in a list's public form (ticking the consent checkbox next to
the purpose text); the ledger records what they were shown, from which IP
and browser. On a double opt-in list they get a confirmation email with a
signed link that expires; following it records the confirmation with its own
IP and user agent and only then subscribes them. The form's answer is the
same whatever the address's history, so the form cannot be used to find out
who is on a list.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.audience.branding import (
    Brand,
    BrandingService,
    RenderedConfirmation,
    render_confirmation,
)
from courriel.audience.hygiene.screen import ListHygiene, Refusal
from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    MailingList,
    RoleAddresses,
    SignupForm,
    Subscription,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.properties import clean_text
from courriel.audience.subscriptions import can_move
from courriel.audience.suppressions import erased_only, lift_erasure, suppressed_hashes
from courriel.config import Settings
from courriel.content import dkim
from courriel.content.dkimkeys import DkimKeyService
from courriel.content.mailer import Mailer, SystemMail
from courriel.core.addresses import address_key, domain_of, tenant_address_hash
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.core.tokens import sign, verify

CONFIRM = "signup-confirm"
CSRF = "signup-form"
CONFIRM_TTL = dt.timedelta(days=7)
# A list's forms are listed whole, up to this many.
MAX_FORMS_LISTED = 200
CSRF_TTL = dt.timedelta(hours=2)
# A confirmation email goes to someone who has not agreed to anything yet, so
# a form must not become a way to flood a mailbox (issue 18 item 5): per
# address, at most one per 10 minutes and three per day, whoever asks and
# from wherever. The earlier link stays valid for CONFIRM_TTL meanwhile.
CONFIRM_GAP = dt.timedelta(minutes=10)
CONFIRMS_PER_DAY = 3


@dataclass(frozen=True)
class PublicForm:
    """What a public form shows."""

    tenant_id: str
    form_id: str
    title: str
    list_name: str
    purpose: str
    consent_text: str


@dataclass(frozen=True)
class Confirmed:
    """A confirmed subscription, for its thank-you page."""

    tenant_id: str
    list_name: str
    language: str
    thanks: str


@dataclass(frozen=True)
class Visitor:
    """Who submitted a public form or followed a link, for the ledger."""

    ip: str | None
    user_agent: str | None


class SignupService:
    """Forms, submissions and confirmations."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        secret_key: bytes,
        settings: Settings,
        mailer: Mailer,
        *,
        branding: BrandingService | None = None,
        dkim_keys: DkimKeyService | None = None,
        hygiene: ListHygiene | None = None,
    ) -> None:
        self._hygiene = hygiene
        self._storage = storage
        self._clock = clock
        self._key = secret_key
        self._settings = settings
        self._mailer = mailer
        self._branding = branding or BrandingService(storage, clock)
        self._dkim_keys = dkim_keys

    # For the tenant ----------------------------------------------------------

    def create_form(
        self, principal: Principal, list_id: str, title: str, consent_text: str
    ) -> SignupForm:
        """A public form for a list; `consent_text` is the checkbox label shown verbatim."""
        principal.require(Capability.LISTS_WRITE)
        principal.require_list(list_id)
        clean_title = clean_text(title, "title", 200)
        if not clean_title:
            raise InvalidInputError("title", "must not be empty")
        if not consent_text.strip() or len(consent_text) > 2000:
            raise InvalidInputError("consent_text", "say what people agree to (2000 characters)")
        form = SignupForm(
            id=new_id("frm"),
            list_id=list_id,
            title=clean_title,
            consent_text=consent_text.strip(),
            created_at=self._clock.now(),
        )
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            get_or_not_found(session, MailingList, list_id, "list")
            session.add(form)
        return form

    def get_form(self, principal: Principal, form_id: str) -> SignupForm:
        """One form of the principal's tenant."""
        principal.require(Capability.LISTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            found = get_or_not_found(session, SignupForm, form_id, "form")
        if not principal.sees_list(found.list_id):
            raise NotFoundError(f"no form {form_id!r}")
        return found

    def list_forms(self, principal: Principal, list_id: str) -> list[SignupForm]:
        """The forms of one list, oldest first (a list has a handful, not thousands)."""
        principal.require(Capability.LISTS_READ)
        principal.require_list(list_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            get_or_not_found(session, MailingList, list_id, "list")
            return list(
                session.scalars(
                    select(SignupForm)
                    .where(SignupForm.list_id == list_id)
                    .order_by(SignupForm.id)
                    .limit(MAX_FORMS_LISTED)
                )
            )

    def hosted_url(self, tenant_id: str, form_id: str) -> str:
        """Where the hosted page of a form is."""
        return f"{self._settings.public_url.rstrip('/')}/f/{tenant_id}/{form_id}"

    def snippet(self, tenant_id: str, form_id: str) -> str:
        """HTML to paste into a website: the hosted form in a frame."""
        url = html.escape(self.hosted_url(tenant_id, form_id), quote=True)
        return (
            f'<iframe src="{url}" title="Sign up" loading="lazy" '
            'style="border:0;width:100%;max-width:32rem;height:34rem"></iframe>'
        )

    def resend(self, principal: Principal, list_id: str, contact_id: str) -> None:
        """Send a pending contact the confirmation email again (through the list's form)."""
        principal.require(Capability.CONTACTS_WRITE)
        principal.require_list(list_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            row = session.execute(
                select(Subscription.status, Contact.email, Contact.language)
                .join(Contact, Contact.id == Subscription.contact_id)
                .where(Subscription.list_id == list_id, Subscription.contact_id == contact_id)
            ).first()
            form_id = session.scalar(
                select(SignupForm.id)
                .where(SignupForm.list_id == list_id)
                .order_by(SignupForm.created_at)
                .limit(1)
            )
        if row is None:
            raise NotFoundError(f"contact {contact_id!r} is not on list {list_id!r}")
        status, email, language = row
        if status is not S.PENDING:
            raise ConflictError(f"only a pending subscription is confirmed; this one is {status}")
        if form_id is None:
            raise ConflictError("the list has no sign-up form to confirm through; create one")
        form = self.public_form(principal.tenant_id, form_id)
        self._send_confirmation(form, email, contact_id, form.list_name, language)

    # For the public ----------------------------------------------------------

    def public_form(self, tenant_id: str, form_id: str) -> PublicForm:
        """The form as shown to visitors; unknown tenant or form: NotFoundError."""
        with self._storage.tenant(tenant_id)() as session:
            row = session.execute(
                select(SignupForm, MailingList)
                .join(MailingList, MailingList.id == SignupForm.list_id)
                .where(SignupForm.id == form_id)
            ).first()
        if row is None:
            raise NotFoundError("no such form")
        form, mailing_list = row
        return PublicForm(
            tenant_id=tenant_id,
            form_id=form.id,
            title=form.title,
            list_name=mailing_list.name,
            purpose=mailing_list.purpose,
            consent_text=form.consent_text,
        )

    def csrf_token(self, form: PublicForm, nonce: str) -> str:
        """The hidden-field token of a form, bound to it and to the visitor's cookie nonce."""
        payload = {"t": form.tenant_id, "f": form.form_id, "n": nonce}
        return sign(self._key, CSRF, payload, self._clock.now() + CSRF_TTL)

    def check_csrf(self, form: PublicForm, token: str, nonce: str) -> bool:
        """Whether the token is genuine, fresh, for this form and this cookie."""
        payload = verify(self._key, CSRF, token, self._clock.now())
        return (
            payload is not None
            and payload.get("t") == form.tenant_id
            and payload.get("f") == form.form_id
            and bool(nonce)
            and payload.get("n") == nonce
        )

    def refusal(self, form: PublicForm, email: str) -> Refusal | None:
        """Why the list hygiene refuses a normalized `email` on this form's list, or None.

        Only what anyone could tell from the address itself (a role mailbox,
        a throwaway or mistyped domain, a domain without mail): nothing about
        whether the address is known here.
        """
        if self._hygiene is None:
            return None
        with self._storage.tenant(form.tenant_id)() as session:
            signup = session.get(SignupForm, form.form_id)
            mailing_list = session.get(MailingList, signup.list_id) if signup else None
            roles = mailing_list.role_addresses if mailing_list else RoleAddresses.FLAG
        return self._hygiene.refusal(email, roles)

    def submit(
        self, form: PublicForm, email: str, visitor: Visitor, language: str | None = None
    ) -> None:
        """Record a sign-up and send the confirmation; silent about the address's history.

        `language` is the one the form was shown in: a new contact speaks it,
        and the confirmation is written in the contact's language.
        """
        now = self._clock.now()
        digest = tenant_address_hash(self._key, form.tenant_id, email)
        confirm_for: tuple[str, str, str | None] | None = None
        with transaction(self._storage.tenant(form.tenant_id)) as session:
            signup = session.get(SignupForm, form.form_id)
            mailing_list = session.get(MailingList, signup.list_id) if signup else None
            # An erased person may come back only through a new opt-in
            # confirmed from the mailbox, whatever the list's setting.
            erased = erased_only(session, digest)
            if mailing_list is None or (not erased and suppressed_hashes(session, [digest])):
                return
            contact = self._contact(session, email, now)
            if contact.language is None and language:
                contact.language = language[:35]
            sub = session.scalar(
                select(Subscription).where(
                    Subscription.list_id == mailing_list.id,
                    Subscription.contact_id == contact.id,
                )
            )
            target = S.PENDING if mailing_list.double_opt_in or erased else S.SUBSCRIBED
            if target is S.PENDING and self._confirmations_exhausted(session, contact.id, now):
                # Silently: the answer is the same, so it says nothing about the address.
                return
            if sub is None:
                sub = Subscription(
                    list_id=mailing_list.id,
                    contact_id=contact.id,
                    status=target,
                    created_at=now,
                    updated_at=now,
                )
                session.add(sub)
            elif sub.status is S.SUBSCRIBED or not can_move(sub.status, S.PENDING):
                return
            else:
                # Pending again (a resend) or back after an unsubscribe or a soft
                # bounce: a new explicit opt-in, confirmed by email again.
                sub.status = S.PENDING
                sub.updated_at = now
            session.add(
                self._record(
                    form,
                    mailing_list=mailing_list,
                    contact_id=contact.id,
                    action=ConsentAction.GIVEN,
                    visitor=visitor,
                    now=now,
                )
            )
            record_entry(
                session,
                now,
                "public",
                "consent.given",
                f"contact:{contact.id}",
                {"list_id": mailing_list.id, "form_id": form.form_id},
                visitor.ip,
            )
            if sub.status is S.PENDING:
                confirm_for = (contact.id, mailing_list.name, contact.language)
        if confirm_for is not None:
            self._send_confirmation(form, email, *confirm_for)

    def confirm(self, token: str, visitor: Visitor) -> str | None:
        """Confirm from a link: the list's name when the subscription is (now) confirmed."""
        now = self._clock.now()
        payload = verify(self._key, CONFIRM, token, now)
        if payload is None:
            return None
        try:
            form = self.public_form(str(payload["t"]), str(payload["f"]))
        except NotFoundError:
            return None
        with transaction(self._storage.tenant(form.tenant_id)) as session:
            return self._confirm(session, form, str(payload["c"]), visitor, now)

    def tenant_of(self, token: str) -> str | None:
        """The tenant a confirmation link belongs to (for its page's branding), if genuine."""
        payload = verify(self._key, CONFIRM, token, self._clock.now())
        return str(payload["t"]) if payload is not None else None

    def confirm_for_page(self, token: str, visitor: Visitor) -> Confirmed | None:
        """Confirm from a link, with the thank-you text in the contact's language."""
        name = self.confirm(token, visitor)
        payload = verify(self._key, CONFIRM, token, self._clock.now())
        if name is None or payload is None:
            return None
        tenant_id = str(payload["t"])
        with self._storage.tenant(tenant_id)() as session:
            language = session.scalar(select(Contact.language).where(Contact.id == payload["c"]))
        form = self.public_form(tenant_id, str(payload["f"]))
        brand = self._branding.of_tenant(tenant_id)
        shown = render_confirmation(
            brand, language, list_name=name, purpose=form.purpose, confirm_url=""
        )
        return Confirmed(tenant_id, name, shown.language, shown.thanks)

    def _confirm(
        self,
        session: Session,
        form: PublicForm,
        contact_id: str,
        visitor: Visitor,
        now: dt.datetime,
    ) -> str | None:
        row = session.execute(
            select(Subscription, MailingList)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .join(SignupForm, SignupForm.list_id == MailingList.id)
            .where(SignupForm.id == form.form_id, Subscription.contact_id == contact_id)
        ).first()
        if row is None:
            return None
        sub, mailing_list = row
        if sub.status is S.PENDING:
            sub.status = S.SUBSCRIBED
            sub.updated_at = now
            contact = session.get(Contact, contact_id)
            if contact is not None:
                lift_erasure(session, tenant_address_hash(self._key, form.tenant_id, contact.email))
            session.add(
                self._record(
                    form,
                    mailing_list=mailing_list,
                    contact_id=contact_id,
                    action=ConsentAction.CONFIRMED,
                    visitor=visitor,
                    now=now,
                )
            )
            record_entry(
                session,
                now,
                "public",
                "consent.confirmed",
                f"contact:{contact_id}",
                {"list_id": mailing_list.id, "form_id": form.form_id},
                visitor.ip,
            )
        return mailing_list.name if sub.status is S.SUBSCRIBED else None

    # Steps -------------------------------------------------------------------

    @staticmethod
    def _contact(session: Session, email: str, now: dt.datetime) -> Contact:
        contact = session.scalar(select(Contact).where(Contact.email_key == address_key(email)))
        if contact is None:
            contact = Contact(
                id=new_id("con"),
                email=email,
                email_domain=domain_of(email),
                properties={},
                created_at=now,
                updated_at=now,
            )
            session.add(contact)
            session.flush()
        return contact

    @staticmethod
    def _confirmations_exhausted(session: Session, contact_id: str, now: dt.datetime) -> bool:
        """Whether this address had its share of public sign-ups (each one mails it).

        Counted from the consent ledger, so the limit holds across processes
        and restarts; every public sign-up that reaches a pending
        subscription records one GIVEN entry and sends one confirmation.
        """
        recent = session.scalars(
            select(ConsentRecord.occurred_at).where(
                ConsentRecord.contact_id == contact_id,
                ConsentRecord.action == ConsentAction.GIVEN,
                ConsentRecord.principal == "public",
                ConsentRecord.occurred_at > now - dt.timedelta(days=1),
            )
        ).all()
        return len(recent) >= CONFIRMS_PER_DAY or any(at > now - CONFIRM_GAP for at in recent)

    @staticmethod
    def _record(
        form: PublicForm,
        *,
        mailing_list: MailingList,
        contact_id: str,
        action: ConsentAction,
        visitor: Visitor,
        now: dt.datetime,
    ) -> ConsentRecord:
        return ConsentRecord(
            contact_id=contact_id,
            list_id=mailing_list.id,
            action=action,
            source=ConsentSource.FORM,
            legal_basis="consent",
            # The exact words next to the checkbox, and the list purpose they belong to.
            purpose_text=f"{form.consent_text}\n\n{mailing_list.purpose}".strip(),
            purpose_version=mailing_list.purpose_version,
            form_id=form.form_id,
            ip=(visitor.ip or "")[:45] or None,
            user_agent=(visitor.user_agent or "")[:500] or None,
            principal="public",
            occurred_at=now,
        )

    def _send_confirmation(
        self,
        form: PublicForm,
        email: str,
        contact_id: str,
        list_name: str,
        language: str | None = None,
    ) -> None:
        now = self._clock.now()
        token = sign(
            self._key,
            CONFIRM,
            {"t": form.tenant_id, "c": contact_id, "f": form.form_id},
            now + CONFIRM_TTL,
        )
        brand = self._branding.of_tenant(form.tenant_id)
        # The page the link opens speaks the email's language.
        lang = brand.language(language)
        link = f"{self._settings.public_url.rstrip('/')}/f/confirm?token={token}&lang={lang}"
        message_id = new_id("msg")
        # From a verified domain of the tenant (signed with its keys) when it chose one.
        domain = self._branding.sender_domain(form.tenant_id, brand)
        signers = (
            self._dkim_keys.signers(form.tenant_id, domain)
            if domain is not None and self._dkim_keys is not None
            else []
        )
        domain = domain or self._settings.return_path_domain
        shown = self._rendered(brand, language, list_name, form.purpose or form.consent_text, link)
        message = EmailMessage(policy=SMTP)
        message["From"] = Address(
            display_name=brand.organisation or list_name, username="confirm", domain=domain
        )
        local, _, to_domain = email.rpartition("@")
        message["To"] = Address(username=local, domain=to_domain)
        message["Subject"] = shown.subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = f"<{message_id}@{domain}>"
        message["Content-Language"] = shown.language
        # RFC 3834 §5: this is a reply to the person's own request, not a campaign.
        message["Auto-Submitted"] = "auto-replied"
        message.set_content(shown.text + "\n", cte="quoted-printable")
        message.add_alternative(shown.html, subtype="html", cte="quoted-printable")
        body = message.as_bytes()
        if signers:
            body = dkim.sign(body, signers, int(now.timestamp()))
        self._mailer.send(
            [
                SystemMail(
                    tenant_id=form.tenant_id,
                    message_id=message_id,
                    to=email,
                    body=body,
                    contact_id=contact_id,
                )
            ],
            now,
        )

    def _rendered(
        self, brand: Brand, language: str | None, list_name: str, purpose: str, link: str
    ) -> RenderedConfirmation:
        try:
            return render_confirmation(
                brand, language, list_name=list_name, purpose=purpose, confirm_url=link
            )
        except InvalidInputError:
            # Texts checked when saved cannot fail on other values; if they ever
            # do, the person still gets a confirmation: the built-in one.
            return render_confirmation(
                Brand(languages=(brand.language(language),)),
                language,
                list_name=list_name,
                purpose=purpose,
                confirm_url=link,
            )
