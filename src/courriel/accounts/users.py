"""The team of a tenant: users, their status and role, and the owner rule.

Every tenant has at most one owner, and once it has one it always has one:
the owner cannot be disabled, removed or given another role; ownership only
moves by `transfer_ownership`, which makes the former owner an admin.
Operator-created users get a one-time password that must be changed at the
first sign-in; invited users choose theirs on the invitation page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.accounts.models import User, UserStatus
from courriel.accounts.passwords import hash_password
from courriel.accounts.sessions import end_sessions
from courriel.core.addresses import normalize_address
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.models import Tenant
from courriel.core.principal import Capability, Principal
from courriel.core.states import Transitions
from courriel.core.storage import Storage

OWNER = "owner"
# The built-in roles (the authorization layer may add a tenant's own roles).
BUILTIN_ROLES = ("owner", "admin", "marketer", "analyst", "privacy_officer")

USER_TRANSITIONS: Transitions[UserStatus] = Transitions(
    "user",
    {
        UserStatus.INVITED: [UserStatus.ACTIVE, UserStatus.DISABLED],
        UserStatus.ACTIVE: [UserStatus.DISABLED],
        UserStatus.DISABLED: [UserStatus.ACTIVE],
    },
)


@dataclass(frozen=True)
class CreatedUser:
    """A user made by the operator; `one_time_password` is shown once, never stored."""

    user: User
    one_time_password: str | None


def email_key(email: str) -> str:
    """The form two addresses are compared in: case-folded (RFC 5321 local parts
    are case-sensitive in theory; no real mailbox provider treats them so)."""
    return email.strip().casefold()


def checked_email(email: str) -> str:
    """The address, or InvalidInputError naming `email`."""
    return normalize_address(email.strip(), "email")


class UserService:
    """Creates, lists, disables and enables a tenant's users (control database)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        audit: AuditTrail,
        roles: tuple[str, ...] = BUILTIN_ROLES,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._audit = audit
        self._roles = roles
        # Other second factors (passkeys, recovery codes) register how to forget them.
        self._second_factor_resets: list[Callable[[Session, str], None]] = []

    def on_second_factor_reset(self, hook: Callable[[Session, str], None]) -> None:
        """Run `hook(session, user_id)` inside every second-factor reset."""
        self._second_factor_resets.append(hook)

    def _check_role(self, role: str) -> str:
        role = role.strip()
        if role not in self._roles:
            raise InvalidInputError(
                "role", f"unknown role {role!r}; one of {', '.join(self._roles)}"
            )
        return role

    def create(
        self,
        principal: Principal,
        email: str,
        role: str,
        name: str = "",
        status: UserStatus = UserStatus.ACTIVE,
    ) -> CreatedUser:
        """A new user; an active one gets a one-time password to change at first sign-in."""
        principal.require(Capability.USERS_MANAGE)
        address = checked_email(email)
        role = self._check_role(role)
        now = self._clock.now()
        one_time = secrets.token_urlsafe(12) if status is UserStatus.ACTIVE else None
        user = User(
            id=new_id("usr"),
            tenant_id=principal.tenant_id,
            email=address,
            email_key=email_key(address),
            name=name.strip()[:200],
            role=role,
            status=status,
            password_hash=hash_password(one_time) if one_time else None,
            password_changed_at=now if one_time else None,
            must_change_password=one_time is not None,
            created_at=now,
            updated_at=now,
        )
        with transaction(self._storage.control) as session:
            if session.get(Tenant, principal.tenant_id) is None:
                raise NotFoundError(f"no tenant {principal.tenant_id!r}")
            if self._find(session, principal.tenant_id, address) is not None:
                raise ConflictError(f"{address} is already a user of this account")
            if role == OWNER and self._owner(session, principal.tenant_id) is not None:
                raise ConflictError("this account already has an owner; transfer ownership instead")
            session.add(user)
        self._audit.record(
            principal.tenant_id,
            principal,
            "user.created",
            f"user:{user.id}",
            {"role": role, "status": status.value},
        )
        return CreatedUser(user=user, one_time_password=one_time)

    def get(self, principal: Principal, user_id: str) -> User:
        """One user of the principal's tenant."""
        principal.require(Capability.USERS_MANAGE)
        with self._storage.control() as session:
            return self._get(session, principal.tenant_id, user_id)

    def list(self, principal: Principal) -> list[User]:
        """The principal's team, oldest first."""
        principal.require(Capability.USERS_MANAGE)
        with self._storage.control() as session:
            return list(
                session.scalars(
                    select(User)
                    .where(User.tenant_id == principal.tenant_id)
                    .order_by(User.created_at, User.id)
                )
            )

    def disable(self, principal: Principal, user_id: str) -> User:
        """Disable a user: no more sign-in, and every session of theirs ends."""
        return self._set_status(principal, user_id, UserStatus.DISABLED)

    def enable(self, principal: Principal, user_id: str) -> User:
        """Let a disabled user sign in again."""
        return self._set_status(principal, user_id, UserStatus.ACTIVE)

    def set_role(self, principal: Principal, user_id: str, role: str) -> User:
        """Give a user another role; never to or from owner (see `transfer_ownership`)."""
        principal.require(Capability.USERS_MANAGE)
        role = self._check_role(role)
        with transaction(self._storage.control) as session:
            user = self._get(session, principal.tenant_id, user_id)
            if user.role == OWNER:
                raise ConflictError("the owner cannot be demoted; transfer ownership first")
            if role == OWNER:
                raise ConflictError("ownership moves only by transfer")
            before = user.role
            user.role = role
            user.updated_at = self._clock.now()
        self._audit.record(
            principal.tenant_id, principal, "user.role_changed", f"user:{user_id}",
            {"from": before, "to": role},
        )  # fmt: skip
        return user

    def set_language(self, user_id: str, language: str, languages: Collection[str]) -> None:
        """A user's own choice of language for the web application ("" : the browser's)."""
        if language and language not in languages:
            raise InvalidInputError("language", f"choose one of {', '.join(sorted(languages))}")
        with transaction(self._storage.control) as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError("no such user")
            user.language = language
            user.updated_at = self._clock.now()

    def transfer_ownership(self, principal: Principal, to_user_id: str) -> User:
        """Make an active user the owner; the former owner becomes an admin."""
        principal.require(Capability.USERS_MANAGE)
        with transaction(self._storage.control) as session:
            target = self._get(session, principal.tenant_id, to_user_id)
            if target.status is not UserStatus.ACTIVE:
                raise ConflictError("ownership goes only to an active user")
            owner = self._owner(session, principal.tenant_id)
            now = self._clock.now()
            if owner is not None and owner.id != target.id:
                owner.role = "admin"
                owner.updated_at = now
            target.role = OWNER
            target.updated_at = now
        self._audit.record(
            principal.tenant_id, principal, "user.ownership_transferred", f"user:{to_user_id}",
            {"from": owner.id if owner else None},
        )  # fmt: skip
        return target

    def find(self, principal: Principal, id_or_email: str) -> User:
        """A user of the principal's tenant named by id or by address."""
        principal.require(Capability.USERS_MANAGE)
        with self._storage.control() as session:
            if "@" not in id_or_email:
                return self._get(session, principal.tenant_id, id_or_email)
            found = self._find(session, principal.tenant_id, id_or_email)
        if found is None:
            raise NotFoundError(f"no user {id_or_email!r}")
        return found

    def reset_second_factor(self, principal: Principal, user_id: str) -> User:
        """Remove a user's TOTP, passkeys and recovery codes (they enrol again)."""
        principal.require(Capability.USERS_MANAGE)
        with transaction(self._storage.control) as session:
            user = self._get(session, principal.tenant_id, user_id)
            user.totp_secret = None
            user.totp_enabled_at = None
            user.updated_at = self._clock.now()
            for hook in self._second_factor_resets:
                hook(session, user.id)
        self._audit.record(
            principal.tenant_id, principal, "user.second_factor_reset", f"user:{user_id}", {}
        )
        return user

    def _set_status(self, principal: Principal, user_id: str, target: UserStatus) -> User:
        principal.require(Capability.USERS_MANAGE)
        with transaction(self._storage.control) as session:
            user = self._get(session, principal.tenant_id, user_id)
            if user.status is target:
                return user
            if user.role == OWNER and target is UserStatus.DISABLED:
                raise ConflictError("the owner cannot be disabled; transfer ownership first")
            USER_TRANSITIONS.check(user.status, target)
            user.status = target
            if target is UserStatus.DISABLED:
                # A disabled user is signed out everywhere at once.
                end_sessions(session, user.id)
            user.updated_at = self._clock.now()
        self._audit.record(
            principal.tenant_id, principal, f"user.{target.value}", f"user:{user_id}", {}
        )
        return user

    @staticmethod
    def _get(session: Session, tenant_id: str, user_id: str) -> User:
        user = session.get(User, user_id)
        # Another tenant's user is simply not found.
        if user is None or user.tenant_id != tenant_id:
            raise NotFoundError(f"no user {user_id!r}")
        return user

    @staticmethod
    def _find(session: Session, tenant_id: str, email: str) -> User | None:
        return session.scalars(
            select(User).where(User.tenant_id == tenant_id, User.email_key == email_key(email))
        ).first()

    @staticmethod
    def _owner(session: Session, tenant_id: str) -> User | None:
        return session.scalars(
            select(User).where(User.tenant_id == tenant_id, User.role == OWNER)
        ).first()
