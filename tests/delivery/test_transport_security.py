"""Issue 18 item 14, the MX side: MTA-STS (RFC 8461) and DANE (RFC 7672) make
TLS required, and checked, where a recipient domain publishes them.

The sandbox internet's zone file carries the records (TXT, TLSA, which names
are DNSSEC-signed) and the policy host's address; the policy is served over
real HTTPS, and the MX is the sandbox's real SMTP server. Without a policy
the same server gets opportunistic TLS (or cleartext), which each test shows
first or beside, so the refusals are the policy's doing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from courriel.config import Settings
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import Mailer, WorkerFactory, deliver_due, fast_profiles

POLICY_HOST = "mta-sts.gmail.test"
MX = "mx.google.test"


def _certificate(directory: Path, host: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{host}.pem", directory / f"{host}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class PolicyServer:
    """https://mta-sts.gmail.test/.well-known/mta-sts.txt on a loopback port."""

    def __init__(self, directory: Path) -> None:
        self.body = b""
        self.requests = 0
        self.cert_file, key_file = _certificate(directory, POLICY_HOST)
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.requests += 1
                ok = self.path == "/.well-known/mta-sts.txt"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(served.body if ok else b"")

            def log_message(self, *_args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def policy_server(settings: Settings) -> Iterator[PolicyServer]:
    server = PolicyServer(Path(settings.data_dir))
    yield server
    server.close()


def publish(sandbox: Sandbox, records: dict[str, dict[str, list[str]]], **extra: Any) -> None:
    """Add records to the sandbox's zone file (rewritten atomically, as it does)."""
    document = json.loads(sandbox.zone_file.read_text())
    document["records"] = records
    document.update(extra)
    temporary = sandbox.zone_file.with_suffix(".new")
    temporary.write_text(json.dumps(document))
    temporary.replace(sandbox.zone_file)


def enforce(sandbox: Sandbox, server: PolicyServer, mx: str = MX, mode: str = "enforce") -> None:
    server.body = f"version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n".encode()
    publish(
        sandbox,
        {"_mta-sts.gmail.test": {"TXT": ["v=STSv1; id=20261203"]}},
        hosts={
            **json.loads(sandbox.zone_file.read_text())["hosts"],
            POLICY_HOST: ["127.0.0.1", server.port],
        },
    )


def trusting(services: Services, *pems: Path, **more: Any) -> Settings:
    bundle = Path(services.settings.data_dir) / "trusted.pem"
    bundle.write_bytes(b"".join(p.read_bytes() for p in pems))
    return services.settings.model_copy(
        update={"throttle_profiles": fast_profiles(), "mx_tls_ca_file": bundle, **more}
    )


def reply_of(mailer: Mailer, address: str) -> str:
    [deferred] = [e for e in mailer.events(address) if e.type.value == "deferred"]
    return str(deferred.detail)


def test_an_enforced_policy_delivers_over_verified_tls(
    services: Services,
    sandbox: Sandbox,
    mailer: Mailer,
    make_worker: WorkerFactory,
    policy_server: PolicyServer,
) -> None:
    sandbox.behaviours["google"].tls = "offered"
    enforce(sandbox, policy_server)
    settings = trusting(services, sandbox.certificate_file(), policy_server.cert_file)
    mailer.send(["ada@gmail.test"])
    deliver_due(make_worker("sts-worker", settings))
    [received] = sandbox.store.inbox("ada@gmail.test")
    assert b"with ESMTPS" in received.data
    assert policy_server.requests == 1


def test_an_enforced_policy_refuses_an_unverifiable_certificate_and_cleartext(
    services: Services,
    sandbox: Sandbox,
    mailer: Mailer,
    make_worker: WorkerFactory,
    policy_server: PolicyServer,
) -> None:
    google = sandbox.behaviours["google"]
    google.tls = "offered"
    enforce(sandbox, policy_server)
    # The policy host is trusted, the MX's self-signed certificate is not.
    settings = trusting(services, policy_server.cert_file)
    mailer.send(["bob@gmail.test"])
    deliver_due(make_worker("sts-worker", settings))
    assert sandbox.store.count("bob@gmail.test") == 0
    assert "certificate" in reply_of(mailer, "bob@gmail.test").lower()
    # A server without STARTTLS gets nothing either: no fallback to cleartext.
    google.tls = "none"
    mailer.send(["cyd@gmail.test"])
    deliver_due(make_worker("sts-worker-2", settings))
    assert sandbox.store.count("cyd@gmail.test") == 0
    assert services.spool.pending_count() == 2


def test_an_enforced_policy_never_uses_an_mx_it_does_not_name(
    services: Services,
    sandbox: Sandbox,
    mailer: Mailer,
    make_worker: WorkerFactory,
    policy_server: PolicyServer,
) -> None:
    sandbox.behaviours["google"].tls = "offered"
    enforce(sandbox, policy_server, mx="*.mail.google.test")
    settings = trusting(services, sandbox.certificate_file(), policy_server.cert_file)
    mailer.send(["dee@gmail.test"])
    deliver_due(make_worker("sts-worker", settings))
    assert sandbox.store.count("dee@gmail.test") == 0
    assert "not named by the MTA-STS policy" in reply_of(mailer, "dee@gmail.test")


def test_a_testing_policy_is_reported_not_enforced(
    services: Services,
    sandbox: Sandbox,
    mailer: Mailer,
    make_worker: WorkerFactory,
    policy_server: PolicyServer,
) -> None:
    sandbox.behaviours["google"].tls = "none"
    enforce(sandbox, policy_server, mx="other.google.test", mode="testing")
    settings = trusting(services, policy_server.cert_file)
    mailer.send(["eve@gmail.test"])
    deliver_due(make_worker("sts-worker", settings))
    assert sandbox.store.count("eve@gmail.test") == 1


def _spki_sha256(pem: Path) -> str:
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def test_dane_records_authenticate_the_mx_without_any_ca(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    sandbox.behaviours["google"].tls = "offered"
    digest = _spki_sha256(sandbox.certificate_file())
    publish(sandbox, {f"_25._tcp.{MX}": {"TLSA": [f"3 1 1 {digest}"]}}, signed=["google.test"])
    settings = services.settings.model_copy(update={"throttle_profiles": fast_profiles()})
    mailer.send(["fay@gmail.test"])
    deliver_due(make_worker("dane-worker", settings))
    [received] = sandbox.store.inbox("fay@gmail.test")
    assert b"with ESMTPS" in received.data


def test_dane_records_that_do_not_match_defer_and_unsigned_ones_are_ignored(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    sandbox.behaviours["google"].tls = "offered"
    wrong = "00" * 32
    records = {f"_25._tcp.{MX}": {"TLSA": [f"3 1 1 {wrong}"]}}
    publish(sandbox, records, signed=["google.test"])
    settings = services.settings.model_copy(update={"throttle_profiles": fast_profiles()})
    mailer.send(["gus@gmail.test"])
    deliver_due(make_worker("dane-worker", settings))
    assert sandbox.store.count("gus@gmail.test") == 0
    assert "no TLSA record matches" in reply_of(mailer, "gus@gmail.test")
    # The same records without DNSSEC prove nothing (RFC 7672 §2.1): opportunistic TLS.
    publish(sandbox, records, signed=[])
    mailer.send(["hal@gmail.test"])
    deliver_due(make_worker("dane-worker-2", settings))
    assert sandbox.store.count("hal@gmail.test") == 1


def test_a_server_without_starttls_under_dane_gets_nothing(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    sandbox.behaviours["google"].tls = "none"
    digest = _spki_sha256(sandbox.certificate_file())
    publish(sandbox, {f"_25._tcp.{MX}": {"TLSA": [f"3 1 1 {digest}"]}}, signed=["google.test"])
    settings = services.settings.model_copy(update={"throttle_profiles": fast_profiles()})
    mailer.send(["ivy@gmail.test"])
    deliver_due(make_worker("dane-worker", settings))
    assert sandbox.store.count("ivy@gmail.test") == 0
    assert services.spool.pending_count() == 1
