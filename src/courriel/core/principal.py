"""Who is acting, for which tenant, allowed to do what.

Every service use case receives a `Principal` and checks the capability it
needs itself, so a bug in an edge (HTTP, CLI, relay) cannot widen access.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from courriel.core.errors import ForbiddenError, NotFoundError
from courriel.core.masking import mask_value


class Capability(enum.StrEnum):
    """One thing a principal may do; API keys carry a subset."""

    LISTS_READ = "lists:read"
    LISTS_WRITE = "lists:write"
    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    CONTACTS_EXPORT = "contacts:export"
    TEMPLATES_READ = "templates:read"
    TEMPLATES_WRITE = "templates:write"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    CAMPAIGNS_SEND = "campaigns:send"
    STATS_READ = "stats:read"
    EVENTS_READ = "events:read"
    WEBHOOKS_MANAGE = "webhooks:manage"
    KEYS_MANAGE = "keys:manage"
    SANDBOX_READ = "sandbox:read"
    AUDIT_READ = "audit:read"
    # Record and answer data-subject requests (GDPR Arts. 15–21), erasure included.
    PRIVACY_REQUESTS = "privacy:requests"
    # Invite, disable and assign roles, lists and field rights to users.
    USERS_MANAGE = "users:manage"
    # Define the tenant's custom roles.
    ROLES_MANAGE = "roles:manage"
    # Export the audit trail in bulk (reading it page by page is audit:read).
    AUDIT_EXPORT = "audit:export"


class FieldAccess(enum.StrEnum):
    """What a principal may do with one personal field of a contact."""

    # Shown masked (`a***@g***.com`, `J***`): the field still works for
    # segmenting, sending and statistics, but the person stays unnamed.
    HIDDEN = "hidden"
    VISIBLE = "visible"
    EDITABLE = "editable"


# The contact's own personal fields; custom properties marked personal are
# named "properties.<name>".
CONTACT_FIELDS = ("email", "first_name", "last_name", "phone")
_RANK = {FieldAccess.HIDDEN: 0, FieldAccess.VISIBLE: 1, FieldAccess.EDITABLE: 2}


@dataclass(frozen=True)
class FieldRights:
    """Access to each personal field: a default plus per-field exceptions."""

    default: FieldAccess = FieldAccess.EDITABLE
    fields: tuple[tuple[str, FieldAccess], ...] = ()

    @classmethod
    def of(cls, default: FieldAccess, fields: Mapping[str, FieldAccess]) -> FieldRights:
        """Rights from a default and a mapping of exceptions."""
        return cls(default=default, fields=tuple(sorted(fields.items())))

    def access(self, name: str) -> FieldAccess:
        """The access to field `name` (``email``, ``properties.phone``, …)."""
        for field_name, access in self.fields:
            if field_name == name:
                return access
        if name.startswith("properties."):
            # A custom property named like a built-in field follows it.
            bare = name.removeprefix("properties.")
            for field_name, access in self.fields:
                if field_name == bare:
                    return access
        return self.default

    def narrowed(self, other: FieldRights) -> FieldRights:
        """The rights allowed by both `self` and `other` (a key never exceeds its user)."""
        names = {n for n, _ in self.fields} | {n for n, _ in other.fields}
        default = min(self.default, other.default, key=_RANK.__getitem__)
        return FieldRights.of(
            default,
            {n: min(self.access(n), other.access(n), key=_RANK.__getitem__) for n in names},
        )

    @property
    def unrestricted(self) -> bool:
        """True when every field is at least visible."""
        return self.default != FieldAccess.HIDDEN and all(
            access != FieldAccess.HIDDEN for _, access in self.fields
        )

    def as_dict(self) -> dict[str, str]:
        """The exceptions as a plain mapping (for storage and the API)."""
        return {name: access.value for name, access in self.fields}


ALL_CAPABILITIES = frozenset(Capability)


@dataclass(frozen=True)
class Principal:
    """The acting party: bound to exactly one tenant."""

    tenant_id: str
    capabilities: frozenset[Capability]
    # Who, for the consent ledger and the audit trail: "key:key_…", "operator".
    actor: str
    # The lists this principal may see (None: every list of the tenant).
    # Objects of other lists answer "not found", as another tenant's would.
    lists: frozenset[str] | None = None
    fields: FieldRights = field(default_factory=FieldRights)
    # The user acting, or on whose behalf a key acts (None: the operator or
    # a key that belongs to no user and so acts as the tenant's owner).
    user_id: str | None = None
    # Installation staff acting from the CLI on a tenant: reading its personal
    # data needs a stated reason, which lands in the tenant's audit trail.
    staff: bool = False
    reason: str | None = None

    def require(self, capability: Capability) -> None:
        """Raise ForbiddenError unless this principal holds `capability`."""
        if capability not in self.capabilities:
            raise ForbiddenError(f"this credential lacks the capability {capability.value!r}")

    def sees_list(self, list_id: str) -> bool:
        """True when list `list_id` is among this principal's lists."""
        return self.lists is None or list_id in self.lists

    def require_list(self, list_id: str, what: str = "list") -> None:
        """Raise NotFoundError (never Forbidden: the list's existence stays secret)."""
        if not self.sees_list(list_id):
            raise NotFoundError(f"no {what} {list_id!r}")

    def sees_any_list(self, list_ids: Iterable[str]) -> bool:
        """True when one of `list_ids` is visible, or the principal sees every list."""
        if self.lists is None:
            return True
        return any(i in self.lists for i in list_ids)

    def access(self, name: str) -> FieldAccess:
        """This principal's access to personal field `name`."""
        return self.fields.access(name)

    def shown(self, name: str, value: object) -> object:
        """`value` of personal field `name` as this principal may see it."""
        if value is None or self.fields.access(name) != FieldAccess.HIDDEN:
            return value
        return mask_value(name, value)

    def require_edit(self, name: str) -> None:
        """Raise ForbiddenError unless this principal may change field `name`."""
        if self.fields.access(name) != FieldAccess.EDITABLE:
            raise ForbiddenError(f"this credential may not change the field {name!r}")

    @property
    def masks(self) -> bool:
        """True when some personal field is hidden from this principal."""
        return not self.fields.unrestricted

    def require_personal_read(self) -> None:
        """Raise ForbiddenError when installation staff read personal data without a reason."""
        if self.staff and not (self.reason and self.reason.strip()):
            raise ForbiddenError(
                "reading a tenant's personal data as installation staff needs a reason "
                "(--reason), recorded in the tenant's audit trail"
            )

    @classmethod
    def staff_of(cls, tenant_id: str, reason: str | None) -> Principal:
        """Installation staff at the CLI, with the reason they gave (if any)."""
        clean = reason.strip()[:500] if reason else None
        return cls(
            tenant_id=tenant_id,
            capabilities=ALL_CAPABILITIES,
            actor="operator",
            staff=True,
            reason=clean or None,
        )

    @classmethod
    def operator(cls, tenant_id: str) -> Principal:
        """The installation's operator acting on a tenant (CLI, demo, scheduler)."""
        return cls(tenant_id=tenant_id, capabilities=ALL_CAPABILITIES, actor="operator")
