"""Issue 18 item 14: the smart host's certificate is verified.

With `COURRIEL_SMART_HOST_TLS=required` Courriel accepted a self-signed
certificate for another name and would have sent its AUTH credentials to
whoever answered. Now the certificate and name are checked against the
system store or `smart_host_ca_file` whenever TLS is required or
credentials are sent; opportunistic TLS to MX hosts stays unverified
(RFC 7435).
"""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import Mailer, WorkerFactory, deliver_due, fast_profiles


def _relay(sandbox: Sandbox) -> tuple[str, int]:
    relay = sandbox.behaviours["example"]
    relay.tls = "offered"
    relay.accept_logins({"courriel": "relay-s3cret"})
    return sandbox.zone.hosts["mx.example.test"]


def test_required_tls_refuses_a_self_signed_certificate_for_another_name(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    # The sandbox relay answers on 127.0.0.1 with a self-signed certificate
    # naming mx.example.test: an impostor, as far as the smart host goes.
    ip, port = _relay(sandbox)
    settings = services.settings.model_copy(
        update={
            "smart_host": ip,
            "smart_host_port": port,
            "smart_host_tls": "required",
            "smart_host_username": "courriel",
            "smart_host_password": SecretStr("relay-s3cret"),
            "throttle_profiles": fast_profiles(),
        }
    )
    mailer.send(["ivy@example.test"])
    asyncio.run(make_worker("relay-worker", settings).run_once())
    assert sandbox.store.count("ivy@example.test") == 0
    [deferred] = [e for e in mailer.events("ivy@example.test") if e.type.value == "deferred"]
    assert "certificate" in str(deferred.detail["reply"]).lower()
    assert "relay-s3cret" not in str(deferred.detail)
    assert services.spool.pending_count() == 1


def test_credentials_are_never_sent_over_an_unverified_connection(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    # Opportunistic TLS with credentials: the credentials make it required.
    ip, port = _relay(sandbox)
    settings = services.settings.model_copy(
        update={
            "smart_host": ip,
            "smart_host_port": port,
            "smart_host_tls": "opportunistic",
            "smart_host_username": "courriel",
            "smart_host_password": SecretStr("relay-s3cret"),
            "throttle_profiles": fast_profiles(),
        }
    )
    mailer.send(["jon@example.test"])
    asyncio.run(make_worker("relay-worker", settings).run_once())
    assert sandbox.store.count("jon@example.test") == 0
    assert services.spool.pending_count() == 1


def test_a_certificate_from_the_configured_ca_file_is_accepted(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    ip, port = _relay(sandbox)
    settings = services.settings.model_copy(
        update={
            "smart_host": ip,
            "smart_host_port": port,
            "smart_host_tls": "required",
            "smart_host_ca_file": sandbox.certificate_file(),
            "smart_host_username": "courriel",
            "smart_host_password": SecretStr("relay-s3cret"),
            "throttle_profiles": fast_profiles(),
        }
    )
    mailer.send(["kim@example.test"])
    deliver_due(make_worker("relay-worker", settings))
    assert "delivered" in mailer.types("kim@example.test")


def test_opportunistic_tls_to_mx_hosts_still_accepts_self_signed_certificates(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    sandbox.behaviours["google"].tls = "offered"
    settings = services.settings.model_copy(update={"throttle_profiles": fast_profiles()})
    mailer.send(["lea@gmail.test"])
    deliver_due(make_worker("mx-worker", settings))
    [received] = sandbox.store.inbox("lea@gmail.test")
    assert b"with ESMTPS" in received.data
