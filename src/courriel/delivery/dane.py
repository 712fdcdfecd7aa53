"""DANE for SMTP (RFC 7672): TLSA records that authenticate an MX host's key.

TLSA records at ``_25._tcp.<mx host>`` count only when the DNS answer was
DNSSEC-validated (§2.1): the resolver says so with the AD bit, so Courriel
must ask a validating resolver it trusts (a local one). Usable records make
TLS required for that host (§2.2); the certificate is then checked against
the records, never against a CA store: DANE-EE (usage 3) matches the host's
own certificate or key, DANE-TA (usage 2) the certificate that issued it.
PKIX-TA/PKIX-EE (0, 1) are not for SMTP (§3.1.3) and, like unknown selectors or
matching types, make a record unusable; only unusable records means no DANE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DANE_TA, DANE_EE = 2, 3
FULL, SPKI = 0, 1
EXACT, SHA256, SHA512 = 0, 1, 2


@dataclass(frozen=True)
class TlsaRecord:
    """One TLSA record (RFC 6698 §2.1)."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def usable(self) -> bool:
        """Whether SMTP may rely on this record (RFC 7672 §3.1)."""
        return (
            self.usage in (DANE_TA, DANE_EE)
            and self.selector in (FULL, SPKI)
            and self.mtype in (EXACT, SHA256, SHA512)
        )

    @classmethod
    def parse(cls, text: str) -> TlsaRecord:
        """A record from its presentation form: ``3 1 1 <hex>``."""
        usage, selector, mtype, *data = text.split()
        return cls(int(usage), int(selector), int(mtype), bytes.fromhex("".join(data)))


def _selected(certificate: x509.Certificate, selector: int) -> bytes:
    if selector == FULL:
        return certificate.public_bytes(Encoding.DER)
    return certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _digest(data: bytes, mtype: int) -> bytes:
    if mtype == SHA256:
        return hashlib.sha256(data).digest()
    if mtype == SHA512:
        return hashlib.sha512(data).digest()
    return data


def matches(record: TlsaRecord, certificate: x509.Certificate) -> bool:
    """Whether `certificate` is the one (or has the key) `record` names."""
    return _digest(_selected(certificate, record.selector), record.mtype) == record.data


def check_peer(records: Sequence[TlsaRecord], leaf_der: bytes | None) -> str | None:
    """None when the server's certificate is authenticated by a usable record;
    otherwise why not (the delivery is deferred, never sent in the clear).

    DANE-TA: the issuer itself is not in what a TLS client of Python 3.11 sees
    (the leaf only), so it is matched when a full-certificate record holds the
    issuing certificate and the leaf's signature verifies under it.
    """
    if leaf_der is None:
        return "the server presented no certificate"
    leaf = x509.load_der_x509_certificate(leaf_der)
    for record in (r for r in records if r.usable):
        if record.usage == DANE_EE and matches(record, leaf):
            return None
        if record.usage == DANE_TA and record.selector == FULL and record.mtype == EXACT:
            try:
                anchor = x509.load_der_x509_certificate(record.data)
                leaf.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return None
    return "no TLSA record matches the server's certificate (RFC 7672 §3)"
