"""What a tenant asks to have link-checked, on top of the installation's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from courriel.config import Settings
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.policy.links.models import LinkCheckPreference

ROW = 1
Kind = Literal["campaigns", "messages"]


@dataclass(frozen=True)
class LinkCheckChoice:
    """The tenant's switches, and what is checked given the installation's settings."""

    campaigns: bool
    messages: bool
    # The installation checks these whatever the tenant chose.
    required_campaigns: bool
    required_messages: bool

    def checks(self, kind: Kind) -> bool:
        """Whether mail of `kind` is link-checked."""
        if kind == "campaigns":
            return self.campaigns or self.required_campaigns
        return self.messages or self.required_messages


class LinkCheckPreferences:
    """Reads and sets a tenant's link-check preference."""

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, audit: AuditTrail
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._audit = audit

    def of_tenant(self, tenant_id: str) -> LinkCheckChoice:
        """The tenant's choice (no principal: asked by the send checks)."""
        with self._storage.tenant(tenant_id)() as session:
            row = session.get(LinkCheckPreference, ROW)
        return LinkCheckChoice(
            campaigns=bool(row and row.campaigns),
            messages=bool(row and row.messages),
            required_campaigns=self._settings.link_check_campaigns,
            required_messages=self._settings.link_check_messages,
        )

    def get(self, principal: Principal) -> LinkCheckChoice:
        """The principal's tenant's choice."""
        principal.require(Capability.CAMPAIGNS_READ)
        return self.of_tenant(principal.tenant_id)

    def set(
        self, principal: Principal, *, campaigns: bool | None = None, messages: bool | None = None
    ) -> LinkCheckChoice:
        """Switch the checks of campaigns and/or messages on or off (None: unchanged)."""
        principal.require(Capability.CAMPAIGNS_SEND)
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = session.get(LinkCheckPreference, ROW, with_for_update=True)
            if row is None:
                row = LinkCheckPreference(id=ROW, campaigns=False, messages=False, updated_at=now)
                session.add(row)
            if campaigns is not None:
                row.campaigns = campaigns
            if messages is not None:
                row.messages = messages
            row.updated_at = now
            chosen = {"campaigns": row.campaigns, "messages": row.messages}
        self._audit.record(principal.tenant_id, principal, "link_check.set", None, chosen)
        return self.of_tenant(principal.tenant_id)
