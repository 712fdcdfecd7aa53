"""The fields of a contact that templates use, for previews and test sends."""

from __future__ import annotations

from courriel.audience.models import Contact
from courriel.content.ports import ContactFields
from courriel.core.storage import Storage


class AudienceDirectory:
    """See `courriel.content.ports.ContactDirectory`."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def fields(self, tenant_id: str, contact_id: str) -> ContactFields | None:
        """See `ContactDirectory.fields`."""
        with self._storage.tenant(tenant_id)() as session:
            contact = session.get(Contact, contact_id)
        if contact is None:
            return None
        return ContactFields(
            email=contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            language=contact.language,
            timezone=contact.timezone,
            properties=dict(contact.properties),
            restricted=contact.restricted,
        )
