"""Invitations by email: a signed, expiring, single-use link to choose a password.

The link carries a token signed for the purpose "invitation" (core/tokens)
naming the invitation row; the row's `used_at` makes it single-use and its
`expires_at` bounds it even if the signing key were to allow more. The
invitation mail leaves through the one mailer (content/mailer.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.orm import Session

from courriel.accounts.credentials import Credentials
from courriel.accounts.models import Invitation, User, UserStatus
from courriel.accounts.users import UserService
from courriel.config import Settings
from courriel.content.mailer import Mailer, SystemMail
from courriel.core import tokens
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.ids import new_id
from courriel.core.models import Tenant
from courriel.core.principal import Principal
from courriel.core.storage import Storage

PURPOSE = "invitation"


@dataclass(frozen=True)
class Invited:
    """The invited user and the link sent to them."""

    user: User
    link: str


class InvitationService:
    """Invites users and accepts invitations."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        settings: Settings,
        secret_key: bytes,
        *,
        users: UserService,
        credentials: Credentials,
        mailer: Mailer,
        audit: AuditTrail,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._settings = settings
        self._key = secret_key
        self._users = users
        self._credentials = credentials
        self._mailer = mailer
        self._audit = audit

    def invite(self, principal: Principal, email: str, role: str, name: str = "") -> Invited:
        """Create an invited user and mail them a link valid `invitation_hours`."""
        user = self._users.create(principal, email, role, name, status=UserStatus.INVITED).user
        now = self._clock.now()
        expires = now + dt.timedelta(hours=self._settings.invitation_hours)
        invitation = Invitation(
            id=new_id("inv"), user_id=user.id, created_at=now, expires_at=expires
        )
        with transaction(self._storage.control) as session:
            session.add(invitation)
            tenant = session.get(Tenant, principal.tenant_id)
        token = tokens.sign(self._key, PURPOSE, {"i": invitation.id}, expires)
        link = f"{self._settings.public_url}/app/invitation?token={token}"
        self._mailer.send([self._mail(user, tenant.name if tenant else "", link, expires)], now)
        self._audit.record(
            principal.tenant_id, principal, "user.invited", f"user:{user.id}", {"role": role}
        )
        return Invited(user=user, link=link)

    def pending(self, token: str) -> User | None:
        """The invited user of a valid, unused invitation token; None otherwise."""
        with self._storage.control() as session:
            found = self._open(session, token)
            return found[1] if found else None

    def accept(self, token: str, password: str) -> User:
        """Set the invited user's password and activate them; the link is then spent."""
        with transaction(self._storage.control) as session:
            found = self._open(session, token)
            if found is None:
                raise NotFoundError("this invitation is invalid, used or expired")
            invitation, user = found
            self._credentials.choose(session, user, password)
            invitation.used_at = self._clock.now()
            user.status = UserStatus.ACTIVE
        self._audit.record(
            user.tenant_id, f"user:{user.id}", "user.invitation_accepted", f"user:{user.id}", {}
        )
        return user

    def _open(self, session: Session, token: str) -> tuple[Invitation, User] | None:
        now = self._clock.now()
        payload = tokens.verify(self._key, PURPOSE, token, now)
        if payload is None or not isinstance(payload.get("i"), str):
            return None
        invitation = session.get(Invitation, payload["i"])
        if invitation is None or invitation.used_at is not None or invitation.expires_at <= now:
            return None
        user = session.get(User, invitation.user_id)
        if user is None or user.status is not UserStatus.INVITED:
            return None
        return invitation, user

    def _mail(self, user: User, team: str, link: str, expires: dt.datetime) -> SystemMail:
        message = EmailMessage()
        message["From"] = self._settings.policy_notice_from
        message["To"] = user.email
        message["Subject"] = f"You are invited to {team or 'a team'} on Courriel"
        message["Date"] = format_datetime(self._clock.now())
        message["Message-ID"] = make_msgid(domain=self._settings.return_path_domain)
        message.set_content(
            f"You have been invited to join {team or 'a team'} on Courriel.\n\n"
            f"Choose your password here (the link works once, until "
            f"{expires:%Y-%m-%d %H:%M} UTC):\n\n{link}\n\n"
            "If you did not expect this, ignore this message.\n"
        )
        return SystemMail(
            tenant_id=user.tenant_id,
            message_id=new_id("msg"),
            to=user.email,
            body=message.as_bytes(),
            envelope_from=self._settings.policy_notice_from,
        )
