"""TOTP (RFC 6238) as a second factor, and the ten single-use recovery codes.

Enrolment stores a new seed sealed under the installation key and shows it
as an otpauth:// QR code (drawn by segno as inline SVG, no third-party
request); it is enabled only once the user types a code from it. A code is
accepted within one step of clock drift either way and only once: the
step it matched is remembered (RFC 6238 §5.2). Enabling TOTP issues ten
recovery codes, shown once and stored as keyed hashes; each works once.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from courriel.accounts.models import RecoveryCode, User
from courriel.accounts.passwords import burn_verification, hash_password, verify_password
from courriel.accounts.sealing import Sealer
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.storage import Storage

ISSUER = "Courriel"
RECOVERY_CODES = 10
# Drift accepted either side of now, in 30-second steps (RFC 6238 §5.2).
DRIFT_STEPS = 1
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the seed and its QR code."""

    secret: str
    uri: str
    qr_svg: str


def recovery_code() -> tuple[str, str, str]:
    """A code as shown, its locator and its secret part.

    Four characters locate the row; ten more (~50 bits, no look-alike letters)
    are the secret, stored as an argon2id hash, so one code costs one hash to
    check and a stolen table gives nothing cheap to guess (ASVS 5.0 V6.5.2).
    """
    locator = "".join(secrets.choice(_ALPHABET) for _ in range(4))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{locator}-{secret[:5]}-{secret[5:]}", locator, secret


def _parts(code: str) -> tuple[str, str] | None:
    normal = code.strip().lower().replace(" ", "").replace("-", "")
    if len(normal) != 14 or not normal.isalnum():
        return None
    return normal[:4], normal[4:]


class TotpService:
    """Enrols, checks and removes TOTP; issues and spends recovery codes."""

    def __init__(
        self, storage: Storage, clock: Clock, secret_key: bytes, audit: AuditTrail
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._sealer = Sealer(secret_key, "totp seeds")
        self._audit = audit

    def begin(self, user_id: str) -> Enrolment:
        """A new (not yet enabled) seed for the user, replacing an unconfirmed one."""
        secret = pyotp.random_base32()
        with transaction(self._storage.control) as session:
            user = _user(session, user_id)
            if user.totp_enabled_at is not None:
                raise ConflictError("TOTP is already set up; remove it before setting it up again")
            user.totp_secret = self._sealer.seal(secret.encode(), user.id)
            email = user.email
        uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
        svg = segno.make(uri, error="m").svg_inline(scale=4, title="TOTP QR code")
        return Enrolment(secret=secret, uri=uri, qr_svg=svg)

    def confirm(self, user_id: str, code: str) -> list[str]:
        """Enable TOTP with a first good code; returns the ten recovery codes (shown once)."""
        with transaction(self._storage.control) as session:
            user = _user(session, user_id)
            if user.totp_secret is None or user.totp_enabled_at is not None:
                raise ConflictError("start setting up TOTP first")
            if not self._matches(user, code):
                raise InvalidInputError("code", "that code is not right; check your device's clock")
            user.totp_enabled_at = self._clock.now()
            codes = self._issue_codes(session, user.id)
        self._audit.record(user.tenant_id, f"user:{user.id}", "auth.totp_enabled", None, {})
        return codes

    def verify(self, user_id: str, code: str) -> bool:
        """Whether `code` is a current, unused TOTP code of the user (it is then used)."""
        with transaction(self._storage.control) as session:
            user = _user(session, user_id)
            if user.totp_enabled_at is None:
                return False
            return self._matches(user, code)

    def use_recovery_code(self, user_id: str, code: str) -> bool:
        """Whether `code` is an unused recovery code of the user (it is then spent)."""
        parts = _parts(code)
        if parts is None:
            return False
        locator, secret = parts
        with transaction(self._storage.control) as session:
            row = session.scalars(
                select(RecoveryCode).where(
                    RecoveryCode.user_id == user_id,
                    RecoveryCode.locator == locator,
                    RecoveryCode.used_at.is_(None),
                )
            ).first()
            if row is None:
                burn_verification(secret)
                return False
            if not verify_password(row.code_hash, secret):
                return False
            row.used_at = self._clock.now()
            return True

    def remaining_codes(self, user_id: str) -> int:
        """How many recovery codes the user has left."""
        with self._storage.control() as session:
            return len(
                session.scalars(
                    select(RecoveryCode.id).where(
                        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                    )
                ).all()
            )

    def regenerate_codes(self, user_id: str) -> list[str]:
        """Ten new recovery codes; the old ones stop working."""
        with transaction(self._storage.control) as session:
            user = _user(session, user_id)
            codes = self._issue_codes(session, user.id)
        self._audit.record(
            user.tenant_id, f"user:{user.id}", "auth.recovery_codes_issued", None, {}
        )
        return codes

    def _issue_codes(self, session: Session, user_id: str) -> list[str]:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        codes: list[str] = []
        locators: set[str] = set()
        while len(codes) < RECOVERY_CODES:
            shown, locator, secret = recovery_code()
            if locator in locators:
                continue
            locators.add(locator)
            codes.append(shown)
            session.add(
                RecoveryCode(
                    id=new_id("rec"),
                    user_id=user_id,
                    locator=locator,
                    code_hash=hash_password(secret),
                )
            )
        return codes

    def _matches(self, user: User, code: str) -> bool:
        code = code.strip().replace(" ", "")
        if user.totp_secret is None or len(code) != 6 or not code.isdigit():
            return False
        totp = pyotp.TOTP(self._sealer.open(user.totp_secret, user.id).decode())
        now = self._clock.now()
        current = totp.timecode(now)
        for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
            step = current + offset
            if user.totp_last_step is not None and step <= user.totp_last_step:
                continue
            if hmac.compare_digest(totp.generate_otp(step), code):
                user.totp_last_step = step
                return True
        return False


def forget_recovery_codes(session: Session, user_id: str) -> None:
    """Delete a user's recovery codes (a second-factor reset)."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id!r}")
    return user
