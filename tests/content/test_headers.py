"""Header encoding (RFC 2047, RFC 6532) and custom header rules."""

from __future__ import annotations

import email.header

import pytest

from courriel.content import headers as h
from courriel.core.errors import InvalidInputError


def _decode(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def test_non_ascii_names_become_short_encoded_words() -> None:
    name = "Élodie Ünïcode — Boutique « été » " * 3
    encoded = h.phrase(name)
    assert encoded.isascii()
    assert all(len(word) <= 75 for word in encoded.split(" "))
    assert _decode(encoded) == name


def test_ascii_names_are_quoted_when_needed() -> None:
    assert h.address("Ada Lovelace", "ada@example.test") == "Ada Lovelace <ada@example.test>"
    assert h.address('Shop, "The" Best', "a@b.test") == '"Shop, \\"The\\" Best" <a@b.test>'
    assert h.address("", "a@b.test") == "<a@b.test>"


def test_non_ascii_domains_use_idna_and_local_parts_rfc_6532() -> None:
    assert h.address("", "a@exämple.test") == "<a@xn--exmple-cua.test>"
    # A UTF-8 local part cannot be encoded: it is sent as UTF-8 (SMTPUTF8).
    assert h.address("Zoë", "zoë@example.test") == '"Zoë" <zoë@example.test>'


def test_long_subjects_fold_below_the_line_limits() -> None:
    subject = "word " * 300
    folded = h.unstructured(subject.strip())
    assert all(len(line) <= 78 for line in folded.split("\r\n"))
    assert folded.replace("\r\n ", " ") == subject.strip()
    encoded = h.unstructured("é" * 400)
    assert all(len(line) <= 76 for line in encoded.split("\r\n"))
    assert _decode(encoded.replace("\r\n", "")) == "é" * 400


@pytest.mark.parametrize(
    "headers",
    [
        {"X-A": "a\rb"},
        {"X-A": "a\nb"},
        {"X-A": "a\x00b"},
        {"X-A\r\nBcc": "x"},
        {"X A": "x"},
        {"X:A": "x"},
        {"Subject": "x"},
        {"DKIM-Signature": "x"},
        {"Message-ID": "<x@y>"},
        {"X-A": "x" * 901},
        {f"X-{i}": "v" for i in range(21)},
    ],
)
def test_bad_custom_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError):
        h.validate_custom_headers(headers)


def test_a_header_name_starting_with_a_dot_is_refused_by_name() -> None:
    # SMTP rewrites a line that starts with a dot (RFC 5321 §4.5.2).
    with pytest.raises(InvalidInputError, match=r"cannot start with '\.'") as caught:
        h.validate_custom_headers({"X-Fine": "1", ".X-Dot": "1"})
    assert caught.value.field == "headers..X-Dot"


def test_good_custom_headers_are_kept() -> None:
    assert h.validate_custom_headers({"X-Campaign": " spring ", "Organization": "Shop"}) == {
        "X-Campaign": "spring",
        "Organization": "Shop",
    }


@pytest.mark.parametrize("name", ["Eve\r\nBcc: all@example.test", "Eve\nBcc: x", "Ève\r\nBcc: x"])
def test_line_breaks_in_contact_names_cannot_start_a_header(name: str) -> None:
    value = h.address(name, "eve@example.test")
    assert "\r" not in value
    assert "\n" not in value
