"""Roles, per-list access and personal-field rights: what a user's principal holds.

A user's principal is computed from three things, at every request:
- the role (built-in, or the tenant's own): a set of capabilities and the
  access to each personal field of a contact (hidden, visible, editable);
- the user's rights: the lists assigned to them (none assigned: every list)
  and per-field overrides of the role;
- the user's status: a disabled user has no principal, so their sessions
  and their API keys stop working at once.

Every change of rights goes to the tenant's audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.accounts.models import CustomRole, User, UserRights, UserStatus
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from courriel.core.ids import new_id
from courriel.core.principal import (
    ALL_CAPABILITIES,
    Capability,
    FieldAccess,
    FieldRights,
    Principal,
)
from courriel.core.storage import Storage

C = Capability
E, V, H = FieldAccess.EDITABLE, FieldAccess.VISIBLE, FieldAccess.HIDDEN


@dataclass(frozen=True)
class Role:
    """A named set of capabilities and personal-field rights."""

    name: str
    capabilities: frozenset[Capability]
    fields: FieldRights
    builtin: bool


BUILTIN: dict[str, Role] = {
    role.name: role
    for role in (
        Role("owner", ALL_CAPABILITIES, FieldRights(E), builtin=True),
        Role("admin", ALL_CAPABILITIES, FieldRights(E), builtin=True),
        # Builds and sends campaigns; sees whom it writes to.
        Role(
            "marketer",
            frozenset({
                C.LISTS_READ, C.LISTS_WRITE, C.CONTACTS_READ, C.CONTACTS_WRITE,
                C.TEMPLATES_READ, C.TEMPLATES_WRITE, C.CAMPAIGNS_READ, C.CAMPAIGNS_WRITE,
                C.CAMPAIGNS_SEND, C.STATS_READ, C.EVENTS_READ, C.SANDBOX_READ,
                C.KEYS_MANAGE,
            }),
            FieldRights(V),
            builtin=True,
        ),
        # Reads figures; never a person's identity.
        Role(
            "analyst",
            frozenset({
                C.LISTS_READ, C.CONTACTS_READ, C.TEMPLATES_READ, C.CAMPAIGNS_READ,
                C.STATS_READ, C.EVENTS_READ,
            }),
            FieldRights(H),
            builtin=True,
        ),
        # Answers data-subject requests and keeps the trail; sends nothing.
        Role(
            "privacy_officer",
            frozenset({
                C.LISTS_READ, C.CONTACTS_READ, C.CONTACTS_WRITE, C.CONTACTS_EXPORT,
                C.PRIVACY_REQUESTS, C.AUDIT_READ, C.AUDIT_EXPORT, C.EVENTS_READ,
            }),
            FieldRights(E),
            builtin=True,
        ),
    )
}  # fmt: skip
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{1,59}")
# A personal field: a contact's own, or a custom property ("properties.<name>").
FIELD_NAME = re.compile(r"(email|first_name|last_name|phone|properties\.[A-Za-z0-9_]{1,64})")
_RANK = {H: 0, V: 1, E: 2}


def checked_capabilities(values: Iterable[str], field: str = "capabilities") -> frozenset[C]:
    """Capabilities from their names, or InvalidInputError naming the wrong one."""
    found: set[C] = set()
    for index, value in enumerate(values):
        try:
            found.add(C(value))
        except ValueError:
            raise InvalidInputError(f"{field}.{index}", f"unknown capability {value!r}") from None
    return frozenset(found)


def checked_fields(values: Mapping[str, str], field: str = "fields") -> dict[str, FieldAccess]:
    """Field rights from their names, or InvalidInputError naming the wrong one."""
    found: dict[str, FieldAccess] = {}
    for name, access in values.items():
        if not FIELD_NAME.fullmatch(name):
            raise InvalidInputError(
                f"{field}.{name}",
                "not a personal field (email, first_name, last_name, phone, properties.<name>)",
            )
        try:
            found[name] = FieldAccess(access)
        except ValueError:
            raise InvalidInputError(
                f"{field}.{name}", "must be one of hidden, visible, editable"
            ) from None
    return found


def checked_access(value: str, field: str = "field_default") -> FieldAccess:
    """One access level, or InvalidInputError."""
    try:
        return FieldAccess(value)
    except ValueError:
        raise InvalidInputError(field, "must be one of hidden, visible, editable") from None


def require_within(principal: Principal, fields: FieldRights, lists: Iterable[str] | None) -> None:
    """Raise ForbiddenError when `fields` or `lists` exceed what `principal` holds."""
    names = {n for n, _ in fields.fields} | {n for n, _ in principal.fields.fields}
    for name in [*sorted(names), "*"]:
        wanted = fields.default if name == "*" else fields.access(name)
        held = principal.fields.default if name == "*" else principal.access(name)
        if _RANK[wanted] > _RANK[held]:
            label = "every other field" if name == "*" else name
            raise ForbiddenError(f"this credential may not grant {wanted.value} on {label}")
    if principal.lists is not None:
        if lists is None:
            raise ForbiddenError("this credential may not grant every list")
        outside = sorted(set(lists) - principal.lists)
        if outside:
            raise NotFoundError(f"no list {outside[0]!r}")


class RoleService:
    """Custom roles, users' list and field rights, and the principal of a user."""

    def __init__(self, storage: Storage, clock: Clock, audit: AuditTrail) -> None:
        self._storage = storage
        self._clock = clock
        self._audit = audit

    # -- roles ---------------------------------------------------------------

    def list(self, principal: Principal) -> list[Role]:
        """The built-in roles, then the tenant's own, by name."""
        principal.require(C.USERS_MANAGE)
        with self._storage.control() as session:
            rows = session.scalars(
                select(CustomRole)
                .where(CustomRole.tenant_id == principal.tenant_id)
                .order_by(CustomRole.name)
            )
            return [*BUILTIN.values(), *(_role(row) for row in rows)]

    def create(
        self,
        principal: Principal,
        name: str,
        capabilities: Iterable[str],
        field_default: str = "visible",
        fields: Mapping[str, str] | None = None,
    ) -> Role:
        """A custom role; it never holds more than the principal that made it."""
        principal.require(C.ROLES_MANAGE)
        name = name.strip()
        if not ROLE_NAME.fullmatch(name):
            raise InvalidInputError("name", "2 to 60 of a-z, 0-9, '_' and '-', from a letter")
        if name in BUILTIN:
            raise ConflictError(f"{name!r} is a built-in role")
        caps = checked_capabilities(capabilities)
        for cap in sorted(caps):
            principal.require(cap)
        rights = FieldRights.of(checked_access(field_default), checked_fields(fields or {}))
        require_within(principal, rights, None if principal.lists is None else principal.lists)
        row = CustomRole(
            id=new_id("role"),
            tenant_id=principal.tenant_id,
            name=name,
            capabilities=sorted(c.value for c in caps),
            field_default=rights.default.value,
            field_rights=rights.as_dict(),
            created_at=self._clock.now(),
        )
        with transaction(self._storage.control) as session:
            if self._custom(session, principal.tenant_id, name) is not None:
                raise ConflictError(f"a role named {name!r} already exists")
            session.add(row)
        self._audit.record(
            principal.tenant_id,
            principal,
            "role.created",
            f"role:{name}",
            {
                "capabilities": row.capabilities,
                "field_default": row.field_default,
                "fields": row.field_rights,
            },
        )
        return _role(row)

    def update(
        self,
        principal: Principal,
        name: str,
        capabilities: Iterable[str],
        field_default: str = "visible",
        fields: Mapping[str, str] | None = None,
    ) -> Role:
        """Change a custom role; its holders (and their keys) follow at their next request.

        The same bounds as `create`: never more than the principal holds.
        """
        principal.require(C.ROLES_MANAGE)
        if name in BUILTIN:
            raise ConflictError(f"{name!r} is a built-in role; it cannot change")
        caps = checked_capabilities(capabilities)
        for cap in sorted(caps):
            principal.require(cap)
        rights = FieldRights.of(checked_access(field_default), checked_fields(fields or {}))
        require_within(principal, rights, None if principal.lists is None else principal.lists)
        with transaction(self._storage.control) as session:
            row = self._custom(session, principal.tenant_id, name)
            if row is None:
                raise NotFoundError(f"no custom role {name!r}")
            before = {"capabilities": row.capabilities, "field_default": row.field_default,
                      "fields": row.field_rights}  # fmt: skip
            row.capabilities = sorted(c.value for c in caps)
            row.field_default = rights.default.value
            row.field_rights = rights.as_dict()
            role = _role(row)
        self._audit.record(
            principal.tenant_id,
            principal,
            "role.changed",
            f"role:{name}",
            {
                "from": before,
                "capabilities": sorted(c.value for c in caps),
                "field_default": rights.default.value,
                "fields": rights.as_dict(),
            },
        )
        return role

    def delete(self, principal: Principal, name: str) -> None:
        """Remove a custom role no user holds."""
        principal.require(C.ROLES_MANAGE)
        with transaction(self._storage.control) as session:
            row = self._custom(session, principal.tenant_id, name)
            if row is None:
                raise NotFoundError(f"no custom role {name!r}")
            held = session.scalars(
                select(User.id).where(User.tenant_id == principal.tenant_id, User.role == name)
            ).first()
            if held is not None:
                raise ConflictError(f"the role {name!r} is held by user {held}")
            session.delete(row)
        self._audit.record(principal.tenant_id, principal, "role.deleted", f"role:{name}", {})

    def role(self, tenant_id: str, name: str) -> Role:
        """A role by name, built-in or the tenant's own; NotFoundError otherwise."""
        if name in BUILTIN:
            return BUILTIN[name]
        with self._storage.control() as session:
            row = self._custom(session, tenant_id, name)
        if row is None:
            raise NotFoundError(f"no role {name!r}")
        return _role(row)

    def assign(self, principal: Principal, user_id: str, name: str) -> None:
        """Give a user a custom role (built-in ones go through `UserService.set_role`)."""
        principal.require(C.USERS_MANAGE)
        role = self.role(principal.tenant_id, name)
        if role.builtin:
            raise InvalidInputError("role", "a built-in role is set with `users set-role`")
        for cap in sorted(role.capabilities):
            principal.require(cap)
        with transaction(self._storage.control) as session:
            user = session.get(User, user_id)
            if user is None or user.tenant_id != principal.tenant_id:
                raise NotFoundError(f"no user {user_id!r}")
            if user.role == "owner":
                raise ConflictError("the owner's role changes only by a transfer of ownership")
            before, user.role = user.role, name
            user.updated_at = self._clock.now()
        self._audit.record(
            principal.tenant_id,
            principal,
            "user.role_changed",
            f"user:{user_id}",
            {"from": before, "to": name},
        )

    # -- users' rights -------------------------------------------------------

    def set_rights(
        self,
        principal: Principal,
        user_id: str,
        lists: Iterable[str] | None,
        fields: Mapping[str, str] | None = None,
    ) -> UserRights:
        """Assign a user's lists (None: every list) and per-field overrides."""
        principal.require(C.USERS_MANAGE)
        wanted = checked_fields(fields or {})
        list_ids = None if lists is None else sorted(set(lists))
        require_within(principal, FieldRights.of(FieldAccess.HIDDEN, wanted), list_ids)
        now = self._clock.now()
        with transaction(self._storage.control) as session:
            user = session.get(User, user_id)
            if user is None or user.tenant_id != principal.tenant_id:
                raise NotFoundError(f"no user {user_id!r}")
            if user.role == "owner" and (list_ids is not None or wanted):
                raise ConflictError("the owner always reaches every list and field")
            row = session.get(UserRights, user_id)
            if row is None:
                row = UserRights(user_id=user_id, tenant_id=principal.tenant_id)
                session.add(row)
            row.lists = list_ids
            row.field_rights = {k: v.value for k, v in sorted(wanted.items())}
            row.updated_at = now
        self._audit.record(
            principal.tenant_id,
            principal,
            "user.rights_changed",
            f"user:{user_id}",
            {"lists": list_ids, "fields": row.field_rights},
        )
        return row

    def rights_of(self, principal: Principal, user_id: str) -> UserRights | None:
        """A user's assigned lists and overrides (None: the role's, every list)."""
        principal.require(C.USERS_MANAGE)
        with self._storage.control() as session:
            user = session.get(User, user_id)
            if user is None or user.tenant_id != principal.tenant_id:
                raise NotFoundError(f"no user {user_id!r}")
            return session.get(UserRights, user_id)

    # -- principals ----------------------------------------------------------

    def principal_of(self, tenant_id: str, user_id: str, actor: str | None = None) -> Principal:
        """The principal of an active user: role, lists and field rights.

        A disabled, unknown or other tenant's user raises AuthenticationError,
        which is what makes their keys stop working at once.
        """
        with self._storage.control() as session:
            return self.principal_in(session, tenant_id, user_id, actor)

    def principal_in(
        self, session: Session, tenant_id: str, user_id: str, actor: str | None = None
    ) -> Principal:
        """See `principal_of`; inside the caller's control session."""
        user = session.get(User, user_id)
        if user is None or user.tenant_id != tenant_id or user.status is not UserStatus.ACTIVE:
            raise AuthenticationError("invalid credentials")
        if user.role in BUILTIN:
            role = BUILTIN[user.role]
        else:
            row = self._custom(session, tenant_id, user.role)
            # A role removed under a user leaves them with nothing, not everything.
            role = (
                _role(row)
                if row is not None
                else Role(user.role, frozenset(), FieldRights(H), builtin=False)
            )
        rights = session.get(UserRights, user_id)
        fields = role.fields
        lists: frozenset[str] | None = None
        if rights is not None and user.role != "owner":
            overrides = {k: FieldAccess(v) for k, v in rights.field_rights.items()}
            fields = FieldRights.of(role.fields.default, {**dict(role.fields.fields), **overrides})
            lists = None if rights.lists is None else frozenset(rights.lists)
        return Principal(
            tenant_id=tenant_id,
            capabilities=role.capabilities,
            actor=actor or f"user:{user_id}",
            lists=lists,
            fields=fields,
            user_id=user_id,
        )

    @staticmethod
    def _custom(session: Session, tenant_id: str, name: str) -> CustomRole | None:
        return session.scalars(
            select(CustomRole).where(CustomRole.tenant_id == tenant_id, CustomRole.name == name)
        ).first()


def _role(row: CustomRole) -> Role:
    return Role(
        name=row.name,
        capabilities=frozenset(C(c) for c in row.capabilities if c in C._value2member_map_),
        fields=FieldRights.of(
            FieldAccess(row.field_default),
            {k: FieldAccess(v) for k, v in row.field_rights.items()},
        ),
        builtin=False,
    )


# The built-in roles' capabilities by name, for callers that need only those
# (sign-in pages); a user's whole principal comes from `RoleService.principal_of`.
BUILTIN_CAPABILITIES: dict[str, frozenset[Capability]] = {
    name: role.capabilities for name, role in BUILTIN.items()
}


def capabilities_for(tenant_id: str, role: str) -> frozenset[Capability]:
    """The capabilities of built-in `role` (an unknown role may do nothing); a
    tenant's custom roles need `RoleService.role`."""
    del tenant_id
    return BUILTIN_CAPABILITIES.get(role, frozenset())
