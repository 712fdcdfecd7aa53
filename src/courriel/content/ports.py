"""What content asks of the layers above it, as a contract.

Content sits below the audience (the audience's confirmation mail is
composed here), so it may not read contacts itself. A preview or test send
for a chosen contact asks this port; `courriel.audience.personalization`
implements it and `courriel.services` wires it in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from courriel.core.principal import Principal


@dataclass(frozen=True)
class ContactFields:
    """What a template may use of one contact: its standard fields and its properties."""

    email: str
    first_name: str | None
    last_name: str | None
    language: str | None
    timezone: str | None
    properties: dict[str, Any]
    # Processing is restricted (GDPR Art. 18): the fields may be stored, not used.
    restricted: bool = False

    def values(self) -> dict[str, Any]:
        """The standard fields by name, as templates see them."""
        return {
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "language": self.language,
            "timezone": self.timezone,
        }


class ContactDirectory(Protocol):
    """Finds the personalization fields of a tenant's contact."""

    def fields(self, principal: Principal, contact_id: str, purpose: str) -> ContactFields | None:
        """The fields of contact `contact_id` as `principal` may see them, or None
        when the principal's tenant has no such contact within its lists.

        Only the tenant's own database is read, so another tenant's contact
        id finds nothing; personal fields the principal may not see come
        back masked; the read (for `purpose`: "preview", "test-send") is
        recorded in the tenant's audit trail.
        """
        ...
