"""DKIM signatures (RFC 6376) with RSA-SHA256 and Ed25519-SHA256 (RFC 8463).

Signing uses the `cryptography` primitives with keys loaded once per sender
domain, and our own relaxed/relaxed canonicalization (RFC 6376 §3.4.2 and
§3.4.4): dkimpy parses the key and canonicalizes in pure Python on every
call, an order of magnitude slower. Tests verify every signature with
dkimpy's verifier.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from courriel.content.models import DkimAlgorithm

# What the signature covers: the identity and content headers and
# the one-click unsubscribe pair, so none can be altered or added in transit.
SIGNED_HEADERS = (
    "from",
    "reply-to",
    "to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)
# Signing From once more than it appears ("over-signing", RFC 6376 §8.15)
# makes a second From added in transit break the signature.
OVERSIGNED = ("from",)

_WSP_RUN = re.compile(rb"[ \t]+")

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class DkimSigner:
    """One key that signs for a domain under a selector."""

    domain: str
    selector: str
    algorithm: DkimAlgorithm
    private_key: PrivateKey


def _collapse_whitespace(data: bytes) -> bytes:
    data = data.replace(b"\t", b" ")
    while b"  " in data:
        data = data.replace(b"  ", b" ")
    return data.replace(b" \r\n", b"\r\n")


def body_hash(parts: Sequence[tuple[bytes, bool]]) -> str:
    """The bh= value of a body given in parts: (bytes, already canonical).

    Every part but the last ends with CRLF, so no whitespace run or line
    crosses a boundary and each part canonicalizes on its own; a part
    already canonical (base64 lines: no whitespace) is hashed as it is,
    which spares scanning the largest part of a message.
    """
    digest = hashlib.sha256()
    *middle, (last, _) = parts
    end = canonical_body(last)
    if not end and middle:
        # Trailing empty lines could reach back into earlier parts.
        whole = b"".join(data for data, _ in parts)
        return base64.b64encode(hashlib.sha256(canonical_body(whole)).digest()).decode("ascii")
    for data, canonical in middle:
        if not data.endswith(b"\r\n"):
            raise ValueError("a body part other than the last must end with CRLF")
        digest.update(data if canonical else _collapse_whitespace(data))
    digest.update(end)
    return base64.b64encode(digest.digest()).decode("ascii")


def canonical_body(body: bytes) -> bytes:
    """Relaxed body canonicalization (RFC 6376 §3.4.4).

    Done with bytes.replace (C speed) rather than regular expressions, which
    cost more than the RSA signature on a 100 KB body: a tab becomes a space,
    runs of spaces halve until single, a space before a line end goes, and
    so do the empty lines at the end.
    """
    body = _collapse_whitespace(body).removesuffix(b" ")
    while body.endswith(b"\r\n\r\n"):
        body = body.rstrip(b"\r\n") + b"\r\n"
    if body == b"\r\n":
        return b""
    return body if body.endswith(b"\r\n") or not body else body + b"\r\n"


def canonical_header(name: bytes, value: bytes) -> bytes:
    """Relaxed header canonicalization (RFC 6376 §3.4.2), without the final CRLF."""
    unfolded = value.replace(b"\r\n", b"")
    return name.strip().lower() + b":" + _WSP_RUN.sub(b" ", unfolded).strip(b" \t")


def split_message(message: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Header fields as (name, value with folds) and the body."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        head, body = message.removesuffix(b"\r\n"), b""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    return fields, body


def canonical_fields(head: bytes) -> dict[str, list[bytes]]:
    """Each field of a header block (CRLF-ended fields) in relaxed canonical form, by name.

    A composer makes this once for the fields every message shares and per
    message only for the others (`merge_fields`).
    """
    fields, _ = split_message(head + b"\r\n")
    return _by_name(fields)


def _by_name(fields: list[tuple[bytes, bytes]]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for raw_name, value in fields:
        found.setdefault(raw_name.strip().lower().decode("ascii", "replace"), []).append(
            canonical_header(raw_name, value)
        )
    return found


def merge_fields(*blocks: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
    """`canonical_fields` of header blocks written one after the other."""
    merged: dict[str, list[bytes]] = {}
    for block in blocks:
        for name, lines in block.items():
            merged[name] = merged[name] + lines if name in merged else lines
    return merged


def _signed_fields(remaining: dict[str, list[bytes]]) -> tuple[list[str], list[bytes]]:
    # The last instance of a repeated field is signed first (RFC 6376 §5.4.2).
    names: list[str] = []
    lines: list[bytes] = []
    for name in SIGNED_HEADERS:
        for line in reversed(remaining.get(name, [])):
            names.append(name)
            lines.append(line + b"\r\n")
    # An over-signed name that is absent canonicalizes to nothing.
    names.extend(n for n in OVERSIGNED if n in remaining)
    return names, lines


def canonical_body_hash(body: bytes) -> str:
    """The bh= value of a body written in relaxed canonical form already.

    The composer's bodies are (`mime.py`): hashing the bytes as they are
    spares a pass over 100 KB per message. Tests check the premise.
    """
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def signature_fields(
    fields: dict[str, list[bytes]],
    body_hash: str,
    signers: Sequence[DkimSigner],
    timestamp: int,
) -> bytes:
    """The DKIM-Signature fields for a message's canonical header fields and body hash."""
    return _signatures(fields, body_hash, signers, timestamp) if signers else b""


def sign(message: bytes, signers: Sequence[DkimSigner], timestamp: int) -> bytes:
    """The message with one DKIM-Signature field per signer prepended."""
    if not signers:
        return message
    fields, body = split_message(message)
    return _signatures(_by_name(fields), body_hash([(body, False)]), signers, timestamp) + message


def sign_parts(
    head: bytes,
    parts: Sequence[tuple[bytes, bool]],
    signers: Sequence[DkimSigner],
    timestamp: int,
) -> bytes:
    """The signed message from its header block (CRLF-ended fields) and body parts."""
    pieces = [head, b"\r\n", *(data for data, _ in parts)]
    if not signers:
        return b"".join(pieces)
    signatures = _signatures(canonical_fields(head), body_hash(parts), signers, timestamp)
    return b"".join([signatures, *pieces])


def _signatures(
    fields: dict[str, list[bytes]], body_hash: str, signers: Sequence[DkimSigner], timestamp: int
) -> bytes:
    names, lines = _signed_fields(fields)
    signed_headers = b"".join(lines)
    added: list[bytes] = []
    for signer in signers:
        value = (
            f" v=1; a={signer.algorithm.value}; c=relaxed/relaxed; d={signer.domain};"
            f"\r\n s={signer.selector}; t={timestamp}; h={':'.join(names)};"
            f"\r\n bh={body_hash};\r\n b="
        )
        data = signed_headers + canonical_header(b"DKIM-Signature", value.encode("ascii"))
        signature = base64.b64encode(_signature(signer, data)).decode("ascii")
        added.append(b"DKIM-Signature:" + value.encode("ascii") + _fold_b64(signature) + b"\r\n")
    # Ed25519 first: verifiers that know it stop there, others go on to RSA.
    added.sort(key=lambda line: b"a=rsa" in line[:60])
    return b"".join(added)


def _signature(signer: DkimSigner, data: bytes) -> bytes:
    key = signer.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    # RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonicalized data.
    return key.sign(hashlib.sha256(data).digest())


def _fold_b64(value: str, width: int = 72) -> bytes:
    # Whitespace inside b= is ignored by verifiers (RFC 6376 §3.5).
    return "\r\n ".join(value[i : i + width] for i in range(0, len(value), width)).encode("ascii")


def generate_private_key(algorithm: DkimAlgorithm) -> PrivateKey:
    """A new key: RSA-2048 (RFC 8301 minimum is 1024, 2048 recommended) or Ed25519."""
    if algorithm is DkimAlgorithm.RSA_SHA256:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def public_key_text(key: PrivateKey) -> str:
    """The p= value: base64 SubjectPublicKeyInfo (RSA) or the raw 32 bytes (RFC 8463 §4.2)."""
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def dns_record(algorithm: DkimAlgorithm, public_key: str) -> str:
    """The TXT record text to publish at ``<selector>._domainkey.<domain>``."""
    kind = "rsa" if algorithm is DkimAlgorithm.RSA_SHA256 else "ed25519"
    return f"v=DKIM1; k={kind}; p={public_key}"


def private_key_bytes(key: PrivateKey) -> bytes:
    """PKCS#8 DER of a private key (to be encrypted before storage)."""
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(der: bytes) -> PrivateKey:
    """A private key from PKCS#8 DER."""
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise TypeError("not an RSA or Ed25519 key")
    return key
