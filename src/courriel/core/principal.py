"""Who is acting, for which tenant, allowed to do what.

Every service use case receives a `Principal` and checks the capability it
needs itself, so a bug in an edge (HTTP, CLI, relay) cannot widen access.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from courriel.core.errors import ForbiddenError


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
    # Invite, create, disable and enable the team's users; reset their second factor.
    USERS_MANAGE = "users:manage"


ALL_CAPABILITIES = frozenset(Capability)


@dataclass(frozen=True)
class Principal:
    """The acting party: bound to exactly one tenant."""

    tenant_id: str
    capabilities: frozenset[Capability]
    # Who, for the consent ledger and the audit trail: "key:key_…", "operator".
    actor: str

    def require(self, capability: Capability) -> None:
        """Raise ForbiddenError unless this principal holds `capability`."""
        if capability not in self.capabilities:
            raise ForbiddenError(f"this credential lacks the capability {capability.value!r}")

    @classmethod
    def operator(cls, tenant_id: str) -> Principal:
        """The installation's operator acting on a tenant (CLI, demo, scheduler)."""
        return cls(tenant_id=tenant_id, capabilities=ALL_CAPABILITIES, actor="operator")
