"""The SMTP relay, driven by swaks as a customer would: STARTTLS and AUTH, the
message delivered to the sandbox internet DKIM-signed, Mailjet headers honoured
and removed, AUTH refused before TLS, limits, tenant isolation."""

from __future__ import annotations

from courriel.relay.submission import RelayServer
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.relay.conftest import RelayThread, Sender, dkim_results, login, swaks
from tests.support.delivery import deliver_all


def test_swaks_submits_with_starttls_and_auth_and_the_message_arrives_signed(
    services: Services, sandbox: Sandbox, relay: RelayServer, shop_a: Sender
) -> None:
    assert relay.starttls_address is not None
    transcript = swaks(
        relay.starttls_address[1],
        *login(shop_a),
        "--from",
        "orders@shop-a.test",
        "--to",
        "alice@gmail.test",
        "--header",
        "Subject: Your order 42",
        "--header",
        "X-MJ-CustomID: order-42",
        "--header",
        'X-MJ-EventPayload: {"order": 42}',
        "--header",
        "X-Mailjet-Campaign: orders",
        "--body",
        "Thank you for your order.",
    )
    assert "250 2.0.0 OK queued as msg_" in transcript, transcript
    deliver_all(services)
    [received] = sandbox.store.inbox("alice@gmail.test")
    assert received.subject == "Your order 42"
    assert "Thank you for your order." in received.text
    assert dkim_results(services, shop_a, received.data) == [True, True]
    headers = received.data.partition(b"\r\n\r\n")[0].lower()
    for name in (b"x-mj-customid", b"x-mj-eventpayload", b"x-mailjet-campaign"):
        assert name not in headers
    assert received.mail_from.startswith(f"b.{shop_a.tenant_id}.")


def _spooled(services: Services) -> int:
    return services.spool.backlog(services.clock.now())


def test_implicit_tls_port_and_auth_login_work(
    services: Services, sandbox: Sandbox, relay: RelayServer, shop_a: Sender
) -> None:
    assert relay.tls_address is not None
    transcript = swaks(
        relay.tls_address[1],
        *login(shop_a, mechanism="LOGIN"),
        "--from",
        "orders@shop-a.test",
        "--to",
        "bob@yahoo.test",
        "--header",
        "Subject: Implicit TLS",
        tls="--tlsc",
    )
    assert "250 2.0.0 OK queued as msg_" in transcript, transcript
    deliver_all(services)
    [received] = sandbox.store.inbox("bob@yahoo.test")
    assert dkim_results(services, shop_a, received.data) == [True, True]


def test_a_key_of_one_tenant_cannot_send_from_another_tenants_domain(
    services: Services, relay: RelayServer, shop_a: Sender, shop_b: Sender
) -> None:
    assert relay.starttls_address is not None
    port = relay.starttls_address[1]
    transcript = swaks(
        port, *login(shop_a), "--from", "orders@shop-b.test", "--to", "carol@gmail.test"
    )
    assert "550 5.7.1" in transcript
    assert "shop-b.test" in transcript
    assert "250 2.0.0 OK queued" not in transcript
    # Nor with A's key id and B's secret: the pair must name one key.
    mixed = swaks(
        port,
        "--auth",
        "PLAIN",
        "--auth-user",
        shop_a.key.id,
        "--auth-password",
        shop_b.key.secret,
        "--from",
        "orders@shop-b.test",
        "--to",
        "carol@gmail.test",
    )
    assert "535 5.7.8" in mixed
    assert _spooled(services) == 0


def test_from_must_be_a_sender_domain_with_the_tenants_keys(
    services: Services, relay: RelayServer, shop_a: Sender
) -> None:
    assert relay.starttls_address is not None
    transcript = swaks(
        relay.starttls_address[1],
        *login(shop_a),
        "--from",
        "someone@gmail.test",
        "--to",
        "carol@gmail.test",
    )
    assert "550 5.7.1" in transcript
    assert _spooled(services) == 0


def test_recipient_and_size_limits(services: Services, shop_a: Sender) -> None:
    limited = services.settings.model_copy(
        update={"relay_max_recipients": 2, "relay_max_message_bytes": 2048}
    )
    services.settings = limited
    with RelayThread(services) as relay:
        assert relay.starttls_address is not None
        port = relay.starttls_address[1]
        many = swaks(
            port,
            *login(shop_a),
            "--from",
            "orders@shop-a.test",
            "--to",
            "a@gmail.test,b@gmail.test,c@gmail.test",
        )
        assert "452 4.5.3 Too many recipients" in many
        big = swaks(
            port,
            *login(shop_a),
            "--from",
            "orders@shop-a.test",
            "--to",
            "a@gmail.test",
            "--body",
            "x" * 500 + "\n" + "y" * 500 + "\n" + "z" * 900,
        )
        assert "SIZE 2048" in big
        assert "552" in big
        assert "250 2.0.0 OK queued" not in big


def test_a_bad_mailjet_header_is_refused_with_its_name(
    services: Services, relay: RelayServer, shop_a: Sender
) -> None:
    assert relay.starttls_address is not None
    transcript = swaks(
        relay.starttls_address[1],
        *login(shop_a),
        "--from",
        "orders@shop-a.test",
        "--to",
        "a@gmail.test",
        "--header",
        "X-Mailjet-TrackOpen: often",
    )
    assert "554 5.6.0 X-Mailjet-TrackOpen must be 0, 1 or 2" in transcript
    assert _spooled(services) == 0
