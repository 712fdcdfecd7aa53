"""Server-side sign-in sessions: random tokens, idle and absolute timeouts, rotation.

The cookie carries a 256-bit random token; the table keeps only its SHA-256,
so neither a copy of the table nor a log of ids signs anyone in (ASVS 5.0
V7.2.3). A session ends after `idle` without a request or `absolute` after
sign-in, whichever comes first (V7.3.1, V7.3.2). Its id changes whenever
it gains a privilege (a passed factor, a changed password), and a token
presented before sign-in is never adopted, so a planted id is worthless
(session fixation, V7.2.4). Disabling a user or changing a password ends
their other sessions (V7.4.3).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from courriel.accounts.models import SessionStage, User, UserSession, UserStatus
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import AuthenticationError
from courriel.core.models import Tenant, TenantStatus
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

# How often a session's `last_seen_at` is written: every request would make
# each page view a write; a minute is well inside the idle timeout.
TOUCH_EVERY = dt.timedelta(seconds=60)

RoleCapabilities = Callable[[str, str], frozenset[Capability]]


@dataclass(frozen=True)
class Client:
    """Where a request comes from, for sessions and the audit trail."""

    ip: str | None
    user_agent: str = ""


@dataclass(frozen=True)
class SignedIn:
    """A live session and its user."""

    session: UserSession
    user: User

    @property
    def stage(self) -> SessionStage:
        """How far the session has come."""
        return self.session.stage


def token_id(token: str) -> str:
    """The stored id of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionService:
    """Starts, finds, rotates, lists and ends sign-in sessions (control database)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        idle: dt.timedelta,
        absolute: dt.timedelta,
        capabilities: RoleCapabilities,
        principal_of: Callable[[str, str, str], Principal] | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self.idle = idle
        self.absolute = absolute
        self._capabilities = capabilities
        # The user's whole rights (role, lists, fields), from the roles service.
        self._principal_of = principal_of

    def start(
        self, session: Session, user: User, stage: SessionStage, factors: str, client: Client
    ) -> str:
        """A new session for `user` inside the caller's transaction; returns its token."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        session.add(
            UserSession(
                id=token_id(token),
                user_id=user.id,
                tenant_id=user.tenant_id,
                stage=stage,
                factors=factors,
                csrf_token=secrets.token_urlsafe(32),
                source_ip=client.ip,
                user_agent=client.user_agent[:300],
                created_at=now,
                last_seen_at=now,
                expires_at=now + self.absolute,
            )
        )
        return token

    def resolve(self, token: str | None) -> SignedIn | None:
        """The live session of `token`, touched; None if absent, expired or its user is out."""
        if not token or len(token) > 100:
            return None
        now = self._clock.now()
        with transaction(self._storage.control) as session:
            row = session.execute(
                select(UserSession, User, Tenant.status)
                .join(User, User.id == UserSession.user_id)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(UserSession.id == token_id(token))
            ).first()
            if row is None:
                return None
            found, user, tenant_status = row
            if (
                now >= found.expires_at
                or now - found.last_seen_at >= self.idle
                or user.status is not UserStatus.ACTIVE
                or tenant_status is not TenantStatus.ACTIVE
            ):
                session.delete(found)
                return None
            if now - found.last_seen_at >= TOUCH_EVERY:
                found.last_seen_at = now
            return SignedIn(session=found, user=user)

    def rotate(
        self, token: str, stage: SessionStage, factors: str, challenge: str | None = None
    ) -> str:
        """Replace the session of `token` by one with a new id (and CSRF token) at `stage`.

        The absolute timeout still counts from the first sign-in.
        """
        new = secrets.token_urlsafe(32)
        with transaction(self._storage.control) as session:
            old = session.get(UserSession, token_id(token))
            if old is None:
                raise LookupError("no such session")
            session.delete(old)
            session.flush()
            session.add(
                UserSession(
                    id=token_id(new),
                    user_id=old.user_id,
                    tenant_id=old.tenant_id,
                    stage=stage,
                    factors=factors,
                    csrf_token=secrets.token_urlsafe(32),
                    challenge=challenge,
                    source_ip=old.source_ip,
                    user_agent=old.user_agent,
                    created_at=old.created_at,
                    last_seen_at=self._clock.now(),
                    expires_at=old.expires_at,
                )
            )
        return new

    def set_challenge(self, token: str, challenge: str | None) -> None:
        """Remember (or forget) the WebAuthn challenge this session must answer."""
        with transaction(self._storage.control) as session:
            found = session.get(UserSession, token_id(token))
            if found is not None:
                found.challenge = challenge

    def end(self, token: str) -> None:
        """Sign out this session."""
        with transaction(self._storage.control) as session:
            session.execute(delete(UserSession).where(UserSession.id == token_id(token)))

    def list(self, user_id: str) -> list[UserSession]:
        """A user's live sessions, newest first."""
        now = self._clock.now()
        with self._storage.control() as session:
            rows = session.scalars(
                select(UserSession)
                .where(UserSession.user_id == user_id)
                .order_by(UserSession.created_at.desc())
            )
            return [s for s in rows if s.expires_at > now and now - s.last_seen_at < self.idle]

    def end_one(self, user_id: str, session_id: str) -> bool:
        """End one of the user's own sessions; False when it is not theirs."""
        with transaction(self._storage.control) as session:
            result = session.execute(
                delete(UserSession).where(
                    UserSession.id == session_id, UserSession.user_id == user_id
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def end_all(self, user_id: str, keep_token: str | None = None) -> int:
        """End every session of a user (but `keep_token`'s); how many ended."""
        with transaction(self._storage.control) as session:
            return end_sessions(session, user_id, token_id(keep_token) if keep_token else None)

    def principal(self, signed_in: SignedIn) -> Principal | None:
        """The principal a fully signed-in session acts as; None before that."""
        if signed_in.stage is not SessionStage.FULL:
            return None
        user = signed_in.user
        if self._principal_of is not None:
            # Lists and field rights apply to a signed-in user as to their keys.
            try:
                return self._principal_of(user.tenant_id, user.id, f"user:{user.id}")
            except AuthenticationError:
                return None
        return Principal(
            tenant_id=user.tenant_id,
            capabilities=self._capabilities(user.tenant_id, user.role),
            actor=f"user:{user.id}",
        )


def end_sessions(session: Session, user_id: str, keep_id: str | None = None) -> int:
    """End a user's sessions inside the caller's transaction (but `keep_id`)."""
    statement = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_id is not None:
        statement = statement.where(UserSession.id != keep_id)
    result = session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]
