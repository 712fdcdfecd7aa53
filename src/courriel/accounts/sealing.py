"""Secrets the server must read back (TOTP seeds), sealed with AES-256-GCM under a
key derived (HKDF-SHA256) from the installation key, bound to their owner."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


class Sealer:
    """Seals and opens small secrets; `context` (a user id) is authenticated data."""

    def __init__(self, secret_key: bytes, purpose: str) -> None:
        info = f"courriel {purpose} v1".encode()
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key)
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, context: str) -> bytes:
        """Nonce and ciphertext of `plain`."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plain, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        """The plain secret (raises if it was altered or sealed for another context)."""
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode())
