"""The relay's TLS server context: the configured certificate, or a self-signed one."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from pathlib import Path

from cryptography import x509

from courriel.config import Settings
from courriel.sandbox.certificate import self_signed_context

log = logging.getLogger(__name__)


def relay_tls_context(settings: Settings) -> ssl.SSLContext:
    """A server context for STARTTLS and implicit TLS (TLS 1.2 at least, RFC 8314 §4.1)."""
    if settings.relay_certificate_file is not None:
        if settings.relay_key_file is None:
            raise ValueError("relay_key_file must be set with relay_certificate_file")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.relay_certificate_file, settings.relay_key_file)
    else:
        # Without a configured certificate (the sandbox, tests, a first try)
        # the relay still never takes a password in clear text: it makes a
        # self-signed one. Clients must be told not to verify it.
        log.warning("relay: no certificate configured, using a self-signed one")
        directory = Path(settings.data_dir) / "relay"
        context = _existing(directory) or self_signed_context(
            directory, [settings.helo_name, "localhost"]
        )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _existing(directory: Path) -> ssl.SSLContext | None:
    # The self-signed pair made earlier (by this relay or its first process),
    # while it has more than a day left: every relay process serves the same.
    cert_file, key_file = directory / "tls-cert.pem", directory / "tls-key.pem"
    if not (cert_file.exists() and key_file.exists()):
        return None
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    if certificate.not_valid_after_utc - dt.datetime.now(dt.UTC) < dt.timedelta(days=1):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context
