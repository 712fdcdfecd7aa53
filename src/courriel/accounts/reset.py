"""A forgotten password: a signed, expiring, single-use link by email, then a new password.

The recipe of a reset:

1. `request`: the address and the source are throttled like a sign-in
   (core/attempts); every active user with that address (one per team) gets
   a mail with a link. The caller answers the same whether or not anyone got
   one, and sends the mail after answering (`deliver`), so neither the page
   nor its timing tells whether an address has an account (ASVS 5.0 V6.4.1,
   V6.3.8).
2. The link carries a token signed for the purpose "password-reset" (core/tokens)
   naming the user, valid `LIFETIME`, and a keyed fingerprint of the user's
   current password hash: once any new password is stored the fingerprint no
   longer matches, so a link works once and every older link dies with it,
   without a table of spent tokens.
3. `reset`: the new password goes through the tenant's policy (length,
   common list, history: accounts/credentials), every session of the user
   ends, and the second factor stays: the next sign-in still asks for it.

Every step lands in the user's tenant's audit trail, like a sign-in.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.accounts.credentials import Credentials
from courriel.accounts.models import User, UserStatus
from courriel.accounts.sessions import Client, end_sessions
from courriel.accounts.users import email_key
from courriel.config import Settings
from courriel.content.mailer import Mailer, SystemMail
from courriel.core import tokens
from courriel.core.attempts import FailureThrottle
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError, RateLimitedError
from courriel.core.ids import new_id
from courriel.core.models import Tenant, TenantStatus
from courriel.core.storage import Storage

PURPOSE = "password-reset"
LIFETIME = dt.timedelta(hours=1)
# As many users as a sign-in tries with one address (accounts/signin.py).
MAX_USERS = 5
INVALID = "this link is invalid, was already used or has expired"


@dataclass(frozen=True)
class ResetLink:
    """A link sent to one user."""

    user_id: str
    link: str


def fingerprint(secret_key: bytes, user: User) -> str:
    """A keyed tag of the user's current password: it changes with every new password."""
    return tokens.hex_tag(secret_key, f"reset|{user.id}|{user.password_hash or ''}", 24)


def reset_token(secret_key: bytes, user: User, expires: dt.datetime) -> str:
    """The token of a reset link for `user`, valid until `expires`."""
    return tokens.sign(
        secret_key, PURPOSE, {"u": user.id, "f": fingerprint(secret_key, user)}, expires
    )


class PasswordResets:
    """Sends reset links and sets the password a link allows."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        settings: Settings,
        secret_key: bytes,
        *,
        credentials: Credentials,
        mailer: Mailer,
        audit: AuditTrail,
        throttle: FailureThrottle,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._settings = settings
        self._key = secret_key
        self._credentials = credentials
        self._mailer = mailer
        self._audit = audit
        self._throttle = throttle

    def request(self, email: str, client: Client) -> None:
        """Count a request for `email` from `client`; RateLimitedError while either waits.

        Every request counts, found or not, so the answer never depends on the
        address; the mail itself is sent by `deliver`, after the answer.
        """
        keys = [f"reset:{email_key(email)}", f"reset-ip:{client.ip}"]
        wait = max(self._throttle.wait(k) for k in keys)
        if wait > 0:
            raise RateLimitedError("too many requests; try again later", retry_after=wait)
        for key in keys:
            self._throttle.failed(key)

    def deliver(self, email: str, client: Client) -> list[ResetLink]:
        """Mail a reset link to every active user with `email`; the links sent."""
        now = self._clock.now()
        expires = now + LIFETIME
        sent: list[ResetLink] = []
        mails: list[SystemMail] = []
        with self._storage.control() as session:
            for user, team in _active_users(session, email):
                token = reset_token(self._key, user, expires)
                link = f"{self._settings.public_url}/app/password-reset/new?token={token}"
                mails.append(self._mail(user, team, link, expires))
                sent.append(ResetLink(user.id, link))
                self._record(user, "auth.password_reset_requested", client, None)
        self._mailer.send(mails, now)
        return sent

    def pending(self, token: str) -> User | None:
        """The user a valid, unused, unexpired reset token names; None otherwise."""
        with self._storage.control() as session:
            return self._open(session, token)

    def reset(self, token: str, password: str, client: Client) -> User:
        """Set the password a link allows and end every session of the user.

        NotFoundError for a link that is not (or no longer) valid; the
        policy's InvalidInputError for a password it refuses (the link then
        stays valid, as nothing was changed).
        """
        keys = [f"reset-ip:{client.ip}"]
        wait = self._throttle.wait(keys[0])
        if wait > 0:
            raise RateLimitedError("too many attempts; try again later", retry_after=wait)
        with transaction(self._storage.control) as session:
            user = self._open(session, token)
            if user is None:
                self._throttle.failed(keys[0])
                raise NotFoundError(INVALID)
            self._credentials.choose(session, user, password)
            ended = end_sessions(session, user.id)
        self._record(user, "auth.password_reset", client, f"{ended} sessions ended")
        return user

    def _open(self, session: Session, token: str) -> User | None:
        payload = tokens.verify(self._key, PURPOSE, token, self._clock.now())
        if payload is None or not isinstance(payload.get("u"), str):
            return None
        user = session.get(User, payload["u"])
        if user is None or user.status is not UserStatus.ACTIVE:
            return None
        tenant = session.get(Tenant, user.tenant_id)
        if tenant is None or tenant.status is not TenantStatus.ACTIVE:
            return None
        if not hmac.compare_digest(str(payload.get("f", "")), fingerprint(self._key, user)):
            return None
        return user

    def _record(self, user: User, action: str, client: Client, outcome: str | None) -> None:
        detail: dict[str, object] = {"user_agent": client.user_agent[:300], "factor": "email"}
        if outcome:
            detail["outcome"] = outcome
        self._audit.record(
            user.tenant_id, f"user:{user.id}", action, f"user:{user.id}", detail, client.ip
        )

    def _mail(self, user: User, team: str, link: str, expires: dt.datetime) -> SystemMail:
        message = EmailMessage()
        message["From"] = self._settings.policy_notice_from
        message["To"] = user.email
        message["Subject"] = "Reset your Courriel password"
        message["Date"] = format_datetime(self._clock.now())
        message["Message-ID"] = make_msgid(domain=self._settings.return_path_domain)
        message.set_content(
            f"Someone asked to reset the password of {user.email} in "
            f"{team or 'your team'} on Courriel.\n\n"
            f"Choose a new password here (the link works once, until "
            f"{expires:%Y-%m-%d %H:%M} UTC):\n\n{link}\n\n"
            "Your second factor is still asked when you sign in. If you did not ask "
            "for this, ignore this message: your password stays as it is.\n"
        )
        return SystemMail(
            tenant_id=user.tenant_id,
            message_id=new_id("msg"),
            to=user.email,
            body=message.as_bytes(),
            envelope_from=self._settings.policy_notice_from,
        )


def _active_users(session: Session, email: str) -> list[tuple[User, str]]:
    """The active users with `email` in active teams, with their team's name."""
    rows = session.execute(
        select(User, Tenant.name)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(
            User.email_key == email_key(email),
            User.status == UserStatus.ACTIVE,
            Tenant.status == TenantStatus.ACTIVE,
        )
        .order_by(User.created_at)
        .limit(MAX_USERS)
    )
    return [(user, name) for user, name in rows]
