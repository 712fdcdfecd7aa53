"""What each built-in role may do, as capabilities (the authorization layer
refines this with custom roles, lists and fields)."""

from __future__ import annotations

from courriel.core.principal import ALL_CAPABILITIES, Capability

C = Capability

_READS = frozenset(
    {C.LISTS_READ, C.CONTACTS_READ, C.TEMPLATES_READ, C.CAMPAIGNS_READ, C.STATS_READ, C.EVENTS_READ}
)
BUILTIN_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "owner": ALL_CAPABILITIES,
    "admin": ALL_CAPABILITIES,
    "marketer": _READS
    | {
        C.LISTS_WRITE,
        C.CONTACTS_WRITE,
        C.TEMPLATES_WRITE,
        C.CAMPAIGNS_WRITE,
        C.CAMPAIGNS_SEND,
        C.SANDBOX_READ,
    },
    "analyst": frozenset({C.LISTS_READ, C.CAMPAIGNS_READ, C.STATS_READ, C.EVENTS_READ}),
    "privacy_officer": frozenset(
        {C.CONTACTS_READ, C.CONTACTS_EXPORT, C.PRIVACY_REQUESTS, C.AUDIT_READ, C.LISTS_READ}
    ),
}


def capabilities_for(tenant_id: str, role: str) -> frozenset[Capability]:
    """The capabilities of `role` in `tenant_id` (an unknown role may do nothing)."""
    del tenant_id  # custom roles per tenant come with the authorization layer
    return BUILTIN_CAPABILITIES.get(role, frozenset())
