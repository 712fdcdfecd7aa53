"""Spam scoring in the content check: SpamAssassin through spamd, and the forbidden categories."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from courriel.policy.checks import Checklist, Item
from courriel.policy.spamassassin import SpamAssassin, SpamdError, parse_report, spamd_installed
from courriel.policy.spamcheck import forbidden_item
from courriel.services import Services
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess

CLEAN = (
    "<p>Hello {{ contact.email }}, our autumn letter is here: three soup recipes from the "
    "market, the opening hours of the new bakery and the dates of the village fair.</p>"
    "<p>Bonne lecture, l'équipe du Café.</p>"
)


def _item(checklist: Checklist, name: str) -> Item:
    return next(i for i in checklist.items if i.check == name)


@pytest.fixture
def spamd(services: Services) -> Iterator[SpamAssassin]:
    """The installation's spamd, started by Courriel's own code (as `spamd_start` does)."""
    if not spamd_installed():
        if os.environ.get("CI") == "true":
            pytest.fail("spamd is missing: `make browser` installs Debian's spamassassin in CI")
        pytest.skip("spamd is not installed (Debian package spamassassin; `make browser`)")
    services.spamassassin.start()
    try:
        yield services.spamassassin
    finally:
        services.spamassassin.stop()


def test_spamassassin_scores_the_rendered_campaign_and_names_the_rules(
    services: Services, tenant_a: TenantAccess, spamd: SpamAssassin, client: TestClient
) -> None:
    list_id = seed_list(services, tenant_a, ["a@x.test"])
    spammy = make_campaign(
        services,
        tenant_a,
        [list_id],
        subject="FREE VIAGRA NOW",
        html="<p>Buy viagra and cialis online, no prescription needed!!! Click here</p>",
    )
    item = _item(services.content_checks.checklist(tenant_a.operator, spammy), "spamassassin")
    assert item.data["scored"] is True
    rules = {rule["name"] for rule in item.data["rules"]}
    assert "DRUGS_ERECTILE" in rules
    assert item.detail.startswith(f"score {item.data['score']:g} (spam from 5,")
    clean = make_campaign(services, tenant_a, [list_id], html=CLEAN)
    calm = _item(services.content_checks.checklist(tenant_a.operator, clean), "spamassassin")
    assert calm.passed
    assert calm.data["score"] < item.data["score"]
    # The API shows the same item.
    body = client.get(f"/v1/campaigns/{spammy}/check", headers=tenant_a.headers).json()
    shown = next(i for i in body["items"] if i["check"] == "spamassassin")
    assert "DRUGS_ERECTILE" in shown["detail"]
    # Stopped: the check goes on without it, and says nothing of SpamAssassin.
    spamd.stop()
    after = services.content_checks.checklist(tenant_a.operator, clean)
    assert "spamassassin" not in {i.check for i in after.items}


def test_an_unreachable_spamd_skips_the_score_and_says_so(
    services: Services, tenant_a: TenantAccess
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    services.content_checks._scorer = SpamAssassin(f"127.0.0.1:{port}", timeout=2)
    list_id = seed_list(services, tenant_a, ["a@x.test"])
    campaign = make_campaign(services, tenant_a, [list_id], html=CLEAN)
    item = _item(services.content_checks.checklist(tenant_a.operator, campaign), "spamassassin")
    assert item.passed
    assert item.detail.startswith("not scored: SpamAssassin unreachable")


def test_bad_spamd_addresses_and_answers_are_named() -> None:
    for bad in ("localhost", "host:port", ":783", "127.0.0.1:70000"):
        with pytest.raises(ValueError, match="is not host:port"):
            SpamAssassin(bad)
    with pytest.raises(SpamdError, match="not a spamd answer"):
        parse_report(b"HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(SpamdError, match="spamd refused: EX_NOPERM"):
        parse_report(b"SPAMD/1.1 77 EX_NOPERM\r\n\r\n")


@pytest.mark.parametrize(
    ("subject", "text", "category", "words"),
    [
        (
            "Casino en ligne",
            "Jouez maintenant : 50 tours gratuits offerts !",
            "gambling",
            ["casino en ligne", "tours gratuits"],
        ),
        ("Best prices", "Viagra without prescription, shipped today", "pharmacy",
         ["viagra", "without prescription"]),
        ("Opportunité", "Doublez vos bitcoins : envoyez des bitcoins à cette adresse",
         "crypto scams", ["doublez vos bitcoins", "envoyez des bitcoins"]),
        ("Hot tip", "This penny stock is the next big stock", "penny stocks",
         ["penny stock", "next big stock"]),
        ("Armurerie", "Armes à feu et munitions livrées chez vous", "weapons",
         ["armes a feu", "munitions"]),
    ],
)  # fmt: skip
def test_forbidden_categories_in_french_and_english_block_with_their_words(
    subject: str, text: str, category: str, words: list[str]
) -> None:
    item = forbidden_item(subject, text)
    assert (item.passed, item.severity.value) == (False, "blocking")
    assert item.data["categories"] == {category: words}
    assert item.detail == f"{category}: {', '.join(words)}"


def test_one_word_warns_and_a_clean_newsletter_passes(
    services: Services, tenant_a: TenantAccess
) -> None:
    once = forbidden_item("Our trip", "We visited the old casino of the town, now a museum.")
    assert (once.passed, once.severity.value, once.detail) == (False, "warning", "gambling: casino")
    list_id = seed_list(services, tenant_a, ["a@x.test"])
    campaign = make_campaign(services, tenant_a, [list_id], html=CLEAN)
    checklist = services.content_checks.checklist(tenant_a.operator, campaign)
    assert _item(checklist, "forbidden_content").passed
    assert checklist.blocking == []
    # The check before a send refuses forbidden content, naming it.
    shady = make_campaign(
        services, tenant_a, [list_id], html="<p>Pharmacie en ligne : Viagra sans ordonnance</p>"
    )
    blocking = services.content_checks.checklist(tenant_a.operator, shady).blocking
    assert [i.check for i in blocking] == ["forbidden_content"]


def test_another_tenants_campaign_is_not_checked(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    from courriel.core.errors import NotFoundError  # noqa: PLC0415

    list_id = seed_list(services, tenant_a, ["a@x.test"])
    campaign = make_campaign(services, tenant_a, [list_id], html=CLEAN)
    with pytest.raises(NotFoundError):
        services.content_checks.checklist(tenant_b.operator, campaign)
