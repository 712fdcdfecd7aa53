"""DKIM: our signatures verify with dkimpy's verifier given the published records."""

from __future__ import annotations

import datetime as dt

import dkim as dkimpy
import pytest
from sqlalchemy import select

from courriel.content import dkim
from courriel.content.compose import Composer, Recipient, SendContext, Sender, contact_context
from courriel.content.models import DkimAlgorithm, DkimKey, DkimKeyStatus, TemplateVersion
from courriel.content.service import TemplateContent, build_version
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.services import Services
from tests.support.tenants import TenantAccess

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _keys() -> tuple[list[dkim.DkimSigner], dict[bytes, bytes]]:
    signers: list[dkim.DkimSigner] = []
    records: dict[bytes, bytes] = {}
    for algorithm, selector in (
        (DkimAlgorithm.RSA_SHA256, "s1r"),
        (DkimAlgorithm.ED25519_SHA256, "s1e"),
    ):
        key = dkim.generate_private_key(algorithm)
        signers.append(dkim.DkimSigner("shop.test", selector, algorithm, key))
        record = dkim.dns_record(algorithm, dkim.public_key_text(key))
        records[f"{selector}._domainkey.shop.test.".encode()] = record.encode()
    return signers, records


SIGNERS, RECORDS = _keys()


def _dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
    return RECORDS.get(name)


def _verify_all(message: bytes) -> list[bool]:
    count = message.count(b"DKIM-Signature:")
    results = []
    for index in range(count):
        try:
            results.append(bool(dkimpy.DKIM(message).verify(idx=index, dnsfunc=_dnsfunc)))
        except dkimpy.ValidationError:
            results.append(False)
    return results


def _version(html: str, **more: object) -> TemplateVersion:
    content = TemplateContent(subject="Soldes d’été pour {{ contact.first_name }} ✨", html=html)
    version, _links = build_version("tpl_x", 1, content, NOW)
    for key, value in more.items():
        setattr(version, key, value)
    return version


def _compose(html: str, **more: object) -> bytes:
    composer = Composer(
        _version(html, **more),
        Sender(email="news@shop.test", name="Boutique Élodie", return_path_domain="b.shop.test"),
        SendContext(tenant_id="ten_a", public_url="https://mail.shop.test", secret_key=b"k" * 32),
        SIGNERS,
    )
    recipient = Recipient(
        message_id="msg_1",
        email="zoe@example.test",
        name="Zoë Ünïcode",
        contact=contact_context({"first_name": "Zoë"}, {}, {}),
    )
    return composer.compose(recipient, NOW)


HARD_HTML = (
    "<html><body>\n"
    ".a line that starts with a dot\n"
    "..and two dots\n"
    + ("<p>" + "très long " * 300 + "</p>\n")
    + "<p>trailing spaces   \n\twith tabs\t\t</p>\n\n\n"
    + '<a href="{{ unsubscribe_url }}">unsubscribe</a>\n'
    + "</body></html>"
)


def test_rsa_and_ed25519_signatures_verify_with_dkimpy() -> None:
    message = _compose(HARD_HTML)
    assert message.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;")
    assert b"a=rsa-sha256" in message
    assert _verify_all(message) == [True, True]
    assert max(len(line) for line in message.split(b"\r\n")) <= 998


def test_signature_covers_the_required_headers() -> None:
    message = _compose(HARD_HTML)
    head = message.split(b"\r\n\r\n", 1)[0].decode()
    signed = head.split("h=", 1)[1].split(";", 1)[0].replace("\r\n ", "").split(":")
    for name in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
    ):
        assert name in signed


def test_changing_one_body_byte_breaks_both_signatures() -> None:
    message = _compose(HARD_HTML)
    head, body = message.split(b"\r\n\r\n", 1)
    html_start = body.index(b"text/html")
    for index in (body.index(b"quoted-printable\r\n\r\n", html_start) + 30, len(body) // 2):
        flipped = b"B" if body[index : index + 1] != b"B" else b"C"
        tampered = head + b"\r\n\r\n" + body[:index] + flipped + body[index + 1 :]
        assert _verify_all(tampered) == [False, False]


def test_changing_a_signed_header_breaks_the_signatures() -> None:
    message = _compose(HARD_HTML)
    assert _verify_all(message.replace(b"To: ", b"To: x", 1)) == [False, False]
    # A second From added in transit is caught by over-signing.
    assert _verify_all(message + b"") == [True, True]
    head, body = message.split(b"\r\n\r\n", 1)
    assert _verify_all(head + b"\r\nFrom: evil@evil.test\r\n\r\n" + body) == [False, False]


def test_custom_headers_and_empty_lines_at_the_end_keep_verifying() -> None:
    message = _compose(HARD_HTML + "\n\n\n", headers={"X-Campaign": "été  2026"})
    assert b"X-Campaign: " in message
    assert _verify_all(message) == [True, True]


def test_relaxed_canonicalization_matches_rfc_6376_examples() -> None:
    # RFC 6376 §3.4.5.
    assert dkim.canonical_header(b"A", b" X\r\n") == b"a:X\r\n".rstrip(b"\r\n")
    assert dkim.canonical_header(b"B ", b" Y\t\r\n\tZ  ") == b"b:Y Z"
    assert dkim.canonical_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"
    assert dkim.canonical_body(b"") == b""
    assert dkim.canonical_body(b"\r\n\r\n") == b""


def test_keys_are_generated_per_domain_published_and_rotated(
    services: Services, tenant_a: TenantAccess
) -> None:
    records = services.dkim_keys.rotate(tenant_a.operator, "Shop.Example.test")
    assert {r.algorithm for r in records} == set(DkimAlgorithm)
    assert all(r.status is DkimKeyStatus.ACTIVE for r in records)
    assert all(r.name.endswith("._domainkey.shop.example.test") for r in records)
    assert any(r.value.startswith("v=DKIM1; k=rsa; p=") for r in records)
    assert any(r.value.startswith("v=DKIM1; k=ed25519; p=") for r in records)
    first = {r.selector for r in records}
    rotated = services.dkim_keys.rotate(tenant_a.operator, "shop.example.test")
    active = {r.selector for r in rotated if r.status is DkimKeyStatus.ACTIVE}
    retired = {r.selector for r in rotated if r.status is DkimKeyStatus.RETIRED}
    assert retired == first
    assert len(active) == 2
    assert not active & first
    signers = services.dkim_keys.signers(tenant_a.tenant.id, "shop.example.test")
    assert {s.selector for s in signers} == active


def test_private_keys_are_stored_encrypted(services: Services, tenant_a: TenantAccess) -> None:
    services.dkim_keys.rotate(tenant_a.operator, "shop.test")
    signers = services.dkim_keys.signers(tenant_a.tenant.id, "shop.test")
    with services.storage.control() as session:
        rows = session.scalars(select(DkimKey).where(DkimKey.domain == "shop.test")).all()
    for signer in signers:
        der = dkim.private_key_bytes(signer.private_key)
        for row in rows:
            assert der not in row.private_key_encrypted
            assert der[-32:] not in row.private_key_encrypted
            assert b"PRIVATE KEY" not in row.private_key_encrypted


def test_keys_from_the_store_sign_verifiable_mail(
    services: Services, tenant_a: TenantAccess
) -> None:
    records = services.dkim_keys.rotate(tenant_a.operator, "shop.test")
    published = {f"{r.name}.".encode(): r.value.encode() for r in records}
    signers = services.dkim_keys.signers(tenant_a.tenant.id, "shop.test")
    message = dkim.sign(
        b"From: a@shop.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nbody\r\n",
        signers,
        int(NOW.timestamp()),
    )
    for index in range(2):
        assert dkimpy.DKIM(message).verify(idx=index, dnsfunc=lambda n, timeout=5: published.get(n))


def test_another_tenant_can_neither_see_nor_take_a_domain(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    services.dkim_keys.rotate(tenant_a.operator, "shop.test")
    with pytest.raises(NotFoundError):
        services.dkim_keys.records(tenant_b.operator, "shop.test")
    with pytest.raises(InvalidInputError, match="another account"):
        services.dkim_keys.rotate(tenant_b.operator, "shop.test")
    assert services.dkim_keys.signers(tenant_b.tenant.id, "shop.test") == []


@pytest.mark.parametrize("domain", ["", "localhost", "a..b", "-x.test", "x_y.test", "é.test"])
def test_bad_domains_are_refused(services: Services, tenant_a: TenantAccess, domain: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        services.dkim_keys.rotate(tenant_a.operator, domain)
    assert caught.value.field == "domain"
