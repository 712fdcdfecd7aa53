"""Choosing and changing passwords under the tenant's policy; the policy itself.

A new password is checked against the policy (accounts/passwords.py) and the
user's last N passwords, then stored with the time it was set; the former
hash joins the history. A password whose user has a maximum age (set by an
admin, off by default) must be changed at the next sign-in once it passes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from courriel.accounts.models import AuthPolicy, PasswordHistory, User
from courriel.accounts.passwords import (
    DEFAULT_HISTORY,
    DEFAULT_MIN_LENGTH,
    MAX_LENGTH,
    MIN_LENGTH_FLOOR,
    hash_password,
    policy_problems,
    verify_password,
)
from courriel.accounts.sessions import end_sessions, token_id
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import AuthenticationError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage


@dataclass(frozen=True)
class PolicyView:
    """A tenant's sign-in policy."""

    min_password_length: int = DEFAULT_MIN_LENGTH
    password_history: int = DEFAULT_HISTORY
    require_composition: bool = False
    require_second_factor: bool = False


def policy_of(session: Session, tenant_id: str) -> PolicyView:
    """The tenant's policy (the defaults when it never changed it)."""
    row = session.get(AuthPolicy, tenant_id)
    if row is None:
        return PolicyView()
    return PolicyView(
        row.min_password_length,
        row.password_history,
        row.require_composition,
        row.require_second_factor,
    )


def password_expired(user: User, now: dt.datetime) -> bool:
    """Whether the user's password has outlived the maximum age an admin set."""
    if user.password_max_age_days is None or user.password_changed_at is None:
        return False
    return now >= user.password_changed_at + dt.timedelta(days=user.password_max_age_days)


class Credentials:
    """Sets and changes passwords; reads and changes each tenant's sign-in policy."""

    def __init__(self, storage: Storage, clock: Clock, audit: AuditTrail) -> None:
        self._storage = storage
        self._clock = clock
        self._audit = audit

    def policy(self, tenant_id: str) -> PolicyView:
        """The tenant's sign-in policy."""
        with self._storage.control() as session:
            return policy_of(session, tenant_id)

    def update_policy(self, principal: Principal, **changes: object) -> PolicyView:
        """Change some of the tenant's policy fields (names as in `PolicyView`)."""
        principal.require(Capability.USERS_MANAGE)
        with transaction(self._storage.control) as session:
            current = policy_of(session, principal.tenant_id)
            values = {**current.__dict__, **changes}
            unknown = set(values) - set(PolicyView.__dataclass_fields__)
            if unknown:
                raise InvalidInputError(min(unknown), "is not a policy setting")
            length = values["min_password_length"]
            if not isinstance(length, int) or not MIN_LENGTH_FLOOR <= length <= MAX_LENGTH:
                raise InvalidInputError(
                    "min_password_length", f"must be from {MIN_LENGTH_FLOOR} to {MAX_LENGTH}"
                )
            history = values["password_history"]
            if not isinstance(history, int) or not 0 <= history <= 24:
                raise InvalidInputError("password_history", "must be from 0 to 24")
            view = PolicyView(**values)
            row = session.get(AuthPolicy, principal.tenant_id) or AuthPolicy(
                tenant_id=principal.tenant_id
            )
            row.min_password_length = view.min_password_length
            row.password_history = view.password_history
            row.require_composition = bool(view.require_composition)
            row.require_second_factor = bool(view.require_second_factor)
            row.updated_at = self._clock.now()
            session.add(row)
        self._audit.record(
            principal.tenant_id, principal, "auth.policy_changed", None, dict(view.__dict__)
        )
        return view

    def set_max_age(self, principal: Principal, user_id: str, days: int | None) -> None:
        """Set (or clear, with None) how many days a user's password lasts."""
        principal.require(Capability.USERS_MANAGE)
        if days is not None and not 1 <= days <= 3650:
            raise InvalidInputError("password_max_age_days", "must be from 1 to 3650, or none")
        with transaction(self._storage.control) as session:
            user = session.get(User, user_id)
            if user is None or user.tenant_id != principal.tenant_id:
                raise NotFoundError(f"no user {user_id!r}")
            user.password_max_age_days = days
            user.updated_at = self._clock.now()
        self._audit.record(
            principal.tenant_id, principal, "user.password_max_age", f"user:{user_id}",
            {"days": days},
        )  # fmt: skip

    def change(
        self, user_id: str, current: str, new: str, keep_session_token: str | None = None
    ) -> None:
        """The user's own change: the current password first, then the policy.

        Every other session of the user ends (someone who knew the old password
        loses what they had).
        """
        with transaction(self._storage.control) as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError(f"no user {user_id!r}")
            if user.password_hash is None or not verify_password(user.password_hash, current):
                raise AuthenticationError("the current password is wrong")
            self._store(session, user, new)
            end_sessions(
                session, user.id, token_id(keep_session_token) if keep_session_token else None
            )
        self._audit.record(user.tenant_id, f"user:{user.id}", "auth.password_changed", None, {})

    def choose(self, session: Session, user: User, new: str) -> None:
        """Set a first password (an accepted invitation) inside the caller's transaction."""
        self._store(session, user, new)

    def _store(self, session: Session, user: User, new: str) -> None:
        policy = policy_of(session, user.tenant_id)
        previous = [
            h.password_hash
            for h in session.scalars(
                select(PasswordHistory)
                .where(PasswordHistory.user_id == user.id)
                .order_by(PasswordHistory.created_at.desc())
                .limit(policy.password_history)
            )
        ]
        if user.password_hash and policy.password_history:
            previous = [user.password_hash, *previous][: policy.password_history]
        problems = policy_problems(
            new,
            email=user.email,
            min_length=policy.min_password_length,
            composition=policy.require_composition,
            previous_hashes=previous if policy.password_history else [],
        )
        if problems:
            raise InvalidInputError("password", "; ".join(problems))
        now = self._clock.now()
        if user.password_hash:
            session.add(
                PasswordHistory(
                    id=new_id("pwh"), user_id=user.id, password_hash=user.password_hash,
                    created_at=now,
                )
            )  # fmt: skip
            # Keep no more history than any policy can ask for.
            stale = select(PasswordHistory.id).where(PasswordHistory.user_id == user.id)
            keep = stale.order_by(PasswordHistory.created_at.desc()).limit(24)
            session.execute(
                delete(PasswordHistory).where(
                    PasswordHistory.user_id == user.id, PasswordHistory.id.not_in(keep)
                )
            )
        user.password_hash = hash_password(new)
        user.password_changed_at = now
        user.must_change_password = False
        user.updated_at = now
