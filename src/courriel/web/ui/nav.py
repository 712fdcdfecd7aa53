"""The navigation: each section shows only to a user whose role allows it."""

from __future__ import annotations

from dataclasses import dataclass

from courriel.core.principal import Capability, Principal
from courriel.web.ui.i18n import N_

C = Capability


@dataclass(frozen=True)
class Section:
    """One entry of the navigation: shown when the principal holds any of `needs`."""

    label: str
    href: str
    needs: tuple[Capability, ...] = ()

    def allowed(self, principal: Principal) -> bool:
        """Whether `principal` may open this section."""
        return not self.needs or any(c in principal.capabilities for c in self.needs)


SECTIONS = (
    Section(N_("Dashboard"), "/app"),
    Section(N_("Contacts"), "/app/contacts", (C.CONTACTS_READ, C.LISTS_READ)),
    Section(N_("Imports"), "/app/imports", (C.CONTACTS_WRITE,)),
    Section(N_("Segments"), "/app/segments", (C.CONTACTS_READ,)),
    Section(N_("Templates"), "/app/templates", (C.TEMPLATES_READ,)),
    Section(N_("Campaigns"), "/app/campaigns", (C.CAMPAIGNS_READ,)),
    Section(N_("Workflows"), "/app/workflows", (C.CAMPAIGNS_READ,)),
    Section(N_("Statistics"), "/app/statistics", (C.STATS_READ,)),
    Section(N_("Domains"), "/app/domains", (C.KEYS_MANAGE,)),
    Section(N_("Suppressions"), "/app/suppressions", (C.CONTACTS_READ,)),
    Section(N_("Webhooks"), "/app/webhooks", (C.WEBHOOKS_MANAGE,)),
    Section(N_("API keys"), "/app/keys", (C.KEYS_MANAGE,)),
    Section(N_("Privacy"), "/app/privacy", (C.PRIVACY_REQUESTS, C.AUDIT_READ)),
    Section(N_("Team"), "/app/team", (C.USERS_MANAGE, C.ROLES_MANAGE)),
    Section(N_("Settings"), "/app/settings", (C.ROLES_MANAGE,)),
)


def sections(principal: Principal) -> list[Section]:
    """The sections `principal` may open, in navigation order."""
    return [s for s in SECTIONS if s.allowed(principal)]


def current(path: str) -> str:
    """The href of the section `path` belongs to (the longest matching prefix); ""
    for a page of no section (one's security, sessions, preferences)."""
    best = "/app" if path in ("/app", "/app/") else ""
    for section in SECTIONS:
        href = section.href
        if (
            href != "/app"
            and (path == href or path.startswith(href + "/"))
            and len(href) > len(best)
        ):
            best = href
    return best
