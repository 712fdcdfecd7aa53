"""Passkeys (WebAuthn Level 3) as a second factor, through the `webauthn` package.

The relying party is the installation's public URL: its host is the RP ID
and its origin the only origin accepted. Each ceremony's challenge is kept
server-side in the session that asked for it and used once. A passkey here
is a second factor after the password; user verification is preferred, not
required, so a plain security key works too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from courriel.accounts.models import Passkey, User
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.storage import Storage

RP_NAME = "Courriel"


@dataclass(frozen=True)
class Ceremony:
    """Options for the browser (JSON) and the challenge to remember (base64url)."""

    options_json: str
    challenge: str


class PasskeyService:
    """Registers and checks a user's passkeys."""

    def __init__(self, storage: Storage, clock: Clock, public_url: str, audit: AuditTrail) -> None:
        self._storage = storage
        self._clock = clock
        parts = urlsplit(public_url)
        self.rp_id = parts.hostname or "localhost"
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._audit = audit

    def _descriptors(self, session: Session, user_id: str) -> list[PublicKeyCredentialDescriptor]:
        return [
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in session.scalars(select(Passkey).where(Passkey.user_id == user_id))
        ]

    def begin_registration(self, user_id: str) -> Ceremony:
        """Options to create a credential for the user (their existing ones excluded)."""
        with self._storage.control() as session:
            user = _user(session, user_id)
            options = generate_registration_options(
                rp_id=self.rp_id,
                rp_name=RP_NAME,
                user_name=user.email,
                user_id=user.id.encode(),
                user_display_name=user.name or user.email,
                exclude_credentials=self._descriptors(session, user.id),
                authenticator_selection=AuthenticatorSelectionCriteria(
                    resident_key=ResidentKeyRequirement.DISCOURAGED,
                    user_verification=UserVerificationRequirement.PREFERRED,
                ),
            )
        return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))

    def finish_registration(
        self, user_id: str, challenge: str, credential_json: str, name: str = "passkey"
    ) -> Passkey:
        """Check the browser's answer and keep the new credential."""
        try:
            verified = verify_registration_response(
                credential=credential_json,
                expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
            )
        except (WebAuthnException, ValueError, KeyError) as exc:
            raise InvalidInputError("credential", f"the passkey was not accepted: {exc}") from None
        with transaction(self._storage.control) as session:
            user = _user(session, user_id)
            passkey = Passkey(
                id=new_id("pky"),
                user_id=user.id,
                credential_id=bytes_to_base64url(verified.credential_id),
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                name=(name.strip() or "passkey")[:100],
                created_at=self._clock.now(),
            )
            session.add(passkey)
        self._audit.record(
            user.tenant_id, f"user:{user.id}", "auth.passkey_added", f"passkey:{passkey.id}", {}
        )
        return passkey

    def begin_authentication(self, user_id: str) -> Ceremony:
        """Options to sign with one of the user's passkeys."""
        with self._storage.control() as session:
            allowed = self._descriptors(session, user_id)
        options = generate_authentication_options(
            rp_id=self.rp_id,
            allow_credentials=allowed,
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))

    def finish_authentication(self, user_id: str, challenge: str, credential_json: str) -> bool:
        """Whether the browser's answer is a good signature by one of the user's passkeys."""
        try:
            credential_id = _credential_id(credential_json)
        except ValueError:
            return False
        with transaction(self._storage.control) as session:
            passkey = session.scalars(
                select(Passkey).where(
                    Passkey.user_id == user_id, Passkey.credential_id == credential_id
                )
            ).first()
            if passkey is None:
                return False
            try:
                verified = verify_authentication_response(
                    credential=credential_json,
                    expected_challenge=base64url_to_bytes(challenge),
                    expected_rp_id=self.rp_id,
                    expected_origin=self.origin,
                    credential_public_key=passkey.public_key,
                    credential_current_sign_count=passkey.sign_count,
                )
            except (WebAuthnException, ValueError, KeyError):
                return False
            passkey.sign_count = verified.new_sign_count
            passkey.last_used_at = self._clock.now()
            return True

    def list(self, user_id: str) -> list[Passkey]:
        """The user's passkeys."""
        with self._storage.control() as session:
            return list(session.scalars(select(Passkey).where(Passkey.user_id == user_id)))


def forget_passkeys(session: Session, user_id: str) -> None:
    """Delete a user's passkeys (a second-factor reset)."""
    session.execute(delete(Passkey).where(Passkey.user_id == user_id))


def _credential_id(credential_json: str) -> str:
    try:
        raw = json.loads(credential_json)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or len(raw["id"]) > 700:
        raise ValueError("no credential id")
    return str(raw["id"])


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id!r}")
    return user
