"""Signing in: the password step, the second factor, throttled and audited.

The recipe of a sign-in:

1. `check_throttle`: the account (by address) and the source address must
   not be waiting out a delay or a lock; the answer does not depend on
   whether the account exists (ASVS 5.0 V6.3.1, V6.3.8).
2. `find_candidates`: the active users with that address (one per tenant).
3. `verify`: the password against each candidate's argon2id hash, or against
   a dummy hash when there is none, so an unknown address costs the same
   time and gets the same answer as a wrong password.
4. On failure: count it for the account and the address, write it to the
   trail of each tenant the address belongs to, answer "wrong email or password".
5. On success: rehash when the parameters changed, then start a session at
   the stage the user has reached: a second factor owed, a second factor to
   enrol (the team requires one), a password to change, or signed in.

Every outcome lands in the tenant's audit trail with the time, the source
address, the user agent and the factor.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.accounts.credentials import password_expired, policy_of
from courriel.accounts.models import Passkey, SessionStage, User, UserStatus
from courriel.accounts.passwords import (
    burn_verification,
    hash_password,
    needs_rehash,
    verify_password,
)
from courriel.accounts.sessions import Client, SessionService, SignedIn
from courriel.accounts.users import email_key
from courriel.core.attempts import FailureThrottle
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import AuthenticationError, RateLimitedError
from courriel.core.models import Tenant, TenantStatus
from courriel.core.storage import Storage

WRONG = "wrong email or password"
# More users than this with one address are not tried (each try costs a hash).
MAX_CANDIDATES = 5


@dataclass(frozen=True)
class Started:
    """A session started by a correct password, and what it still owes."""

    token: str
    stage: SessionStage
    user_id: str


def has_second_factor(session: Session, user: User) -> bool:
    """Whether the user has enrolled TOTP or a passkey."""
    if user.totp_enabled_at is not None:
        return True
    return session.scalars(select(Passkey.id).where(Passkey.user_id == user.id)).first() is not None


def stage_after_password(session: Session, user: User, now_expired: bool) -> SessionStage:
    """Where a session goes once the password is right."""
    if has_second_factor(session, user):
        return SessionStage.SECOND_FACTOR
    return stage_after_second_factor(session, user, now_expired, second=False)


def stage_after_second_factor(
    session: Session, user: User, now_expired: bool, *, second: bool = True
) -> SessionStage:
    """Where a session goes once every owed factor is given."""
    if not second and policy_of(session, user.tenant_id).require_second_factor:
        return SessionStage.ENROL
    if user.must_change_password or now_expired:
        return SessionStage.PASSWORD_CHANGE
    return SessionStage.FULL


class SignIn:
    """The password step and the bookkeeping every factor shares."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        audit: AuditTrail,
        sessions: SessionService,
        throttle: FailureThrottle,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._audit = audit
        self._sessions = sessions
        self._throttle = throttle

    def check_throttle(self, keys: list[str]) -> None:
        """RateLimitedError while any of `keys` waits out a delay or a lock."""
        wait = max(self._throttle.wait(k) for k in keys)
        if wait > 0:
            raise RateLimitedError("too many failed attempts; try again later", retry_after=wait)

    def failed(self, keys: list[str]) -> None:
        """Count one failure for each key."""
        for key in keys:
            self._throttle.failed(key)

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key` (a factor passed)."""
        self._throttle.succeeded(key)

    def password(self, email: str, password: str, client: Client) -> Started:
        """Check an address and password; a session at its next stage, or AuthenticationError."""
        keys = [f"signin:{email_key(email)}", f"ip:{client.ip}"]
        self.check_throttle(keys)
        candidates = self._candidates(email)
        matched: User | None = None
        for user in candidates:
            if user.password_hash and verify_password(user.password_hash, password):
                matched = user
                break
        if not candidates:
            burn_verification(password)
        if matched is None:
            self.failed(keys)
            for user in candidates:
                self.audit(user, "auth.sign_in_failed", client, "password", "wrong password")
            raise AuthenticationError(WRONG)
        self._throttle.succeeded(keys[0])
        with transaction(self._storage.control) as session:
            found = session.get(User, matched.id)
            assert found is not None  # found a moment ago; users are never deleted
            user = found
            if needs_rehash(user.password_hash or ""):
                user.password_hash = hash_password(password)
            stage = stage_after_password(session, user, password_expired(user, self._clock.now()))
            if stage is not SessionStage.SECOND_FACTOR:
                user.last_sign_in_at = self._clock.now()
            token = self._sessions.start(session, user, stage, "password", client)
        self.audit(user, "auth.password_accepted", client, "password", stage.value)
        if stage is SessionStage.FULL:
            self.audit(user, "auth.signed_in", client, "password", None)
        return Started(token=token, stage=stage, user_id=user.id)

    def passed_second_factor(
        self, signed_in: SignedIn, token: str, factor: str, client: Client
    ) -> str:
        """Move a session past its second factor (new id); returns the new token."""
        with transaction(self._storage.control) as session:
            user = session.get(User, signed_in.user.id)
            assert user is not None
            stage = stage_after_second_factor(
                session, user, password_expired(user, self._clock.now())
            )
            user.last_sign_in_at = self._clock.now()
        factors = f"{signed_in.session.factors}+{factor}"
        new = self._sessions.rotate(token, stage, factors)
        self.audit(signed_in.user, "auth.signed_in", client, factors, None)
        return new

    def audit(
        self, user: User, action: str, client: Client, factor: str, reason: str | None
    ) -> None:
        """One sign-in entry in the user's tenant's trail."""
        detail: dict[str, object] = {"user_agent": client.user_agent[:300], "factor": factor}
        if reason:
            detail["outcome"] = reason
        self._audit.record(
            user.tenant_id, f"user:{user.id}", action, f"user:{user.id}", detail, client.ip
        )

    def _candidates(self, email: str) -> list[User]:
        with self._storage.control() as session:
            return list(
                session.scalars(
                    select(User)
                    .join(Tenant, Tenant.id == User.tenant_id)
                    .where(
                        User.email_key == email_key(email),
                        User.status == UserStatus.ACTIVE,
                        Tenant.status == TenantStatus.ACTIVE,
                    )
                    .order_by(User.created_at)
                    .limit(MAX_CANDIDATES)
                )
            )
