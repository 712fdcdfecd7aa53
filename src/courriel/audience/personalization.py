"""The fields of a contact that templates use, for previews and test sends."""

from __future__ import annotations

from courriel.audience.access import contact_in_reach, shown_contact
from courriel.content.ports import ContactFields
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.principal import Principal
from courriel.core.storage import Storage


class AudienceDirectory:
    """See `courriel.content.ports.ContactDirectory`."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def fields(self, principal: Principal, contact_id: str, purpose: str) -> ContactFields | None:
        """See `ContactDirectory.fields`."""
        principal.require_personal_read()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            try:
                found = contact_in_reach(session, principal, contact_id)
            except NotFoundError:
                return None
            contact = shown_contact(principal, found)
            # Rendering a message for a person is a read of their personal data.
            record_entry(
                session,
                self._clock.now(),
                principal,
                "contact.rendered",
                f"contact:{contact_id}",
                {"purpose": purpose, "masked": principal.masks},
            )
        return ContactFields(
            email=contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            language=contact.language,
            timezone=contact.timezone,
            properties=dict(contact.properties),
            restricted=contact.restricted,
        )
