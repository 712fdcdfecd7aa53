"""Signed link tokens: bound to tenant, message and link; one purpose never passes for another."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from courriel.content import links

KEY = b"k" * 32
TENANT = "ten_" + "a" * 26
MESSAGE = "msg_" + "b" * 26


def test_tokens_round_trip() -> None:
    assert links.verify_click_token(KEY, links.click_token(KEY, TENANT, MESSAGE, 7)) == (
        links.ClickRef(TENANT, MESSAGE, 7)
    )
    assert links.verify_open_token(KEY, links.open_token(KEY, TENANT, MESSAGE)) == links.OpenRef(
        TENANT, MESSAGE
    )
    assert links.verify_unsubscribe_token(
        KEY, links.unsubscribe_token(KEY, TENANT, MESSAGE)
    ) == links.UnsubscribeRef(TENANT, MESSAGE)
    token = links.click_token(KEY, TENANT, MESSAGE, 7)
    assert token.replace("-", "").replace("_", "").isalnum()
    with pytest.raises(AttributeError):
        links.ClickRef(TENANT, MESSAGE, 1).link_index = 2  # type: ignore[misc]


@pytest.mark.parametrize("key", [KEY, b"long key " * 20])
def test_the_tag_is_hmac_sha256_of_purpose_and_payload(key: bytes) -> None:
    token = links.click_token(key, TENANT, MESSAGE, 7)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    payload, tag = raw[:-16], raw[-16:]
    assert payload == f"{TENANT}\x1f{MESSAGE}\x1f7".encode()
    expected = hmac.new(key, b"courriel-link:click:" + payload, hashlib.sha256).digest()
    assert tag == expected[:16]
    tokens = links.click_tokens(key, TENANT, MESSAGE, 9)
    assert tokens[7].decode() == token


def test_every_changed_character_is_refused() -> None:
    token = links.click_token(KEY, TENANT, MESSAGE, 3)
    for index in range(len(token)):
        for replacement in "A_":
            if token[index] == replacement:
                continue
            tampered = token[:index] + replacement + token[index + 1 :]
            assert links.verify_click_token(KEY, tampered) is None


def test_a_token_of_one_purpose_is_not_one_of_another() -> None:
    click = links.click_token(KEY, TENANT, MESSAGE, 0)
    opened = links.open_token(KEY, TENANT, MESSAGE)
    unsubscribe = links.unsubscribe_token(KEY, TENANT, MESSAGE)
    preferences = links.preferences_token(KEY, TENANT, MESSAGE)
    assert links.verify_open_token(KEY, click) is None
    assert links.verify_unsubscribe_token(KEY, opened) is None
    assert links.verify_click_token(KEY, unsubscribe) is None
    assert links.verify_unsubscribe_token(KEY, preferences) is None
    assert links.verify_preferences_token(KEY, unsubscribe) is None
    assert links.verify_view_online_token(KEY, preferences) is None
    assert links.verify_preferences_token(KEY, preferences) == links.MessageRef(TENANT, MESSAGE)


@pytest.mark.parametrize("garbage", ["", "x", "====", "é" * 10, "A" * 5000, "..", "a/b"])
def test_garbage_is_refused(garbage: str) -> None:
    assert links.verify_click_token(KEY, garbage) is None
    assert links.verify_open_token(KEY, garbage) is None
    assert links.verify_unsubscribe_token(KEY, garbage) is None


def test_another_key_does_not_verify() -> None:
    token = links.click_token(KEY, TENANT, MESSAGE, 1)
    assert links.verify_click_token(b"other" * 8, token) is None


def test_urls_have_the_published_shapes() -> None:
    base = "https://mail.shop.test/"
    assert links.click_url(base, KEY, TENANT, MESSAGE, 2).startswith("https://mail.shop.test/t/c/")
    pixel = links.open_pixel_url(base, KEY, TENANT, MESSAGE)
    assert pixel.startswith("https://mail.shop.test/t/o/")
    assert pixel.endswith(".gif")
    assert links.unsubscribe_url(base, KEY, TENANT, MESSAGE).startswith("https://mail.shop.test/u/")
    assert links.preferences_url(base, KEY, TENANT, MESSAGE).startswith("https://mail.shop.test/p/")
    assert links.view_online_url(base, KEY, TENANT, MESSAGE).startswith("https://mail.shop.test/v/")
    many = links.click_url_list(base, KEY, TENANT, MESSAGE, 7)
    assert many[5] == links.click_url(base, KEY, TENANT, MESSAGE, 5)
    assert [links.verify_click_token(KEY, u.rpartition("/")[2]) for u in many] == [
        links.ClickRef(TENANT, MESSAGE, i) for i in range(7)
    ]


@pytest.mark.parametrize(
    ("url", "trackable"),
    [
        ("https://shop.test/a", True),
        ("HTTP://shop.test", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("mailto:a@b.test", False),
        ("//shop.test/a", False),
        ("/relative", False),
        ("https://x.test/" + "a" * 3000, False),
    ],
)
def test_only_http_urls_can_become_redirect_targets(url: str, trackable: bool) -> None:
    assert links.is_trackable_url(url) is trackable
