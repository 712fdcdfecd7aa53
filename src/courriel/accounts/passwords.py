"""Passwords: argon2id hashes and each tenant's password policy.

Hashing follows the OWASP Password Storage Cheat Sheet for argon2id (19 MiB
of memory, 2 iterations, 1 lane); a hash made with other parameters is
replaced at the next successful sign-in (`needs_rehash`). The policy follows
NIST SP 800-63B §5.1.1.2 and ASVS 5.0 V6.2: a minimum length (12 unless the
tenant chose otherwise, never under 8), at most 128 characters, no common
password, nothing containing the user's own address, none of the last N,
and no composition rules unless an admin turns them on.
"""

from __future__ import annotations

import functools
import gzip
import hmac
import itertools
import unicodedata
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH_FLOOR = 8
MAX_LENGTH = 128
DEFAULT_MIN_LENGTH = 12
DEFAULT_HISTORY = 5

# OWASP: m=19456 KiB, t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    """An argon2id hash (with its own random salt) of `password`."""
    return hasher.hash(normalize(password))


def verify_password(hashed: str, password: str, hasher: PasswordHasher = HASHER) -> bool:
    """Whether `password` matches `hashed` (constant time inside argon2)."""
    try:
        return hasher.verify(hashed, normalize(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str, hasher: PasswordHasher = HASHER) -> bool:
    """Whether `hashed` was made with other parameters than `hasher`'s."""
    try:
        return hasher.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


# A hash of nothing anyone knows: an unknown user's sign-in is checked against
# it, so it costs the same time as a known user's (ASVS 5.0 V6.3.8).
@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hash_password("courriel: no such user, no such password", hasher)


def burn_verification(password: str, hasher: PasswordHasher = HASHER) -> None:
    """Spend the time of one verification, for an unknown or unusable account."""
    verify_password(_dummy_hash(hasher), password, hasher)


def normalize(password: str) -> str:
    """The password in Unicode NFC, so the same characters typed differently match."""
    return unicodedata.normalize("NFC", password)


@functools.cache
def _common() -> frozenset[str]:
    data = resources.files("courriel.accounts").joinpath("data/common-passwords.txt.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8", newline="\n") as text:
        # The header's lines start with "# "; a password may start with "#" too.
        lines = itertools.dropwhile(lambda line: line.startswith("# "), text)
        return frozenset(line.rstrip("\n") for line in lines)


def is_common(password: str) -> bool:
    """Whether `password` is one of the shipped common passwords (case-insensitive)."""
    return normalize(password).casefold() in _common()


def common_count() -> int:
    """How many common passwords the policy knows."""
    return len(_common())


def policy_problems(
    password: str,
    *,
    email: str,
    min_length: int,
    composition: bool,
    previous_hashes: list[str],
    hasher: PasswordHasher = HASHER,
) -> list[str]:
    """What is wrong with `password` under the policy, in words the user can act on."""
    password = normalize(password)
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    folded = password.casefold()
    local = email.partition("@")[0].casefold()
    if email and (email.casefold() in folded or (len(local) >= 3 and local in folded)):
        problems.append("must not contain your email address")
    if is_common(password):
        problems.append("is one of the most common passwords; choose another")
    if composition and not _composed(password):
        problems.append("must mix upper- and lower-case letters, digits and a symbol")
    if not problems and any(verify_password(h, password, hasher) for h in previous_hashes):
        problems.append(f"was used recently; choose one not among your last {len(previous_hashes)}")
    return problems


def _composed(password: str) -> bool:
    return (
        any(c.islower() for c in password)
        and any(c.isupper() for c in password)
        and any(c.isdigit() for c in password)
        and any(not c.isalnum() for c in password)
    )


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison of two short secrets (codes, tokens)."""
    return hmac.compare_digest(a.encode(), b.encode())
