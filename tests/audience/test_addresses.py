"""The import's fast paths give exactly what the reference gives, or defer to it.

Addresses: what email-validator accepts and how it normalizes; keyed hashes:
HMAC-SHA-256; property JSON: json.dumps.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from courriel.audience.import_rows import keyed_hash, properties_json
from courriel.core.addresses import normalize_address, plain_address, validated_address
from courriel.core.errors import InvalidInputError

# Pieces that sit on the edges of the rules: dots, hyphens, Punycode and
# reserved "--" labels, role mailboxes, special-use and numeric TLDs,
# non-ASCII letters, quoting, spaces, a second @.
PIECES = [
    "a",
    "Z",
    "0",
    "9",
    ".",
    "..",
    "-",
    "--",
    "_",
    "+",
    "'",
    "`",
    "{",
    "~",
    "!",
    "#",
    "@",
    '"',
    " ",
    "\t",
    "é",
    "ß",
    "ü",
    "Ⅻ",
    "ı",
    "\u0130",
    "\u200d",
    "xn--",
    "xN--",
    "xn--bcher-kva",
    "xn--zz",
    "ab--",
    "Info",
    "POSTMASTER",
    "abuse",
    "www",
    "com",
    "COM",
    "fr",
    "test",
    "localhost",
    "arpa",
    "onion",
    "invalid",
    "local",
    "example",
    "c0m",
    "123",
    "x" * 63,
    "y" * 64,
    "q" * 70,
    "[127.0.0.1]",
    "<",
    ">",
]
piece_text = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)
addresses = (
    st.builds(
        lambda local, domain, tld: f"{local}@{domain}.{tld}",
        piece_text,
        piece_text,
        st.sampled_from(["com", "Com", "fr", "test", "arpa", "c0m", "x", "co.uk", "museum"]),
    )
    | piece_text
)


def _reference(address: str) -> str | None:
    try:
        return validated_address(address)
    except InvalidInputError:
        return None


@settings(max_examples=3000, deadline=None)
@given(addresses)
@example("Ana.Maria+news@Example.COM")
@example("Postmaster@example.com")
@example("ab--cd@example.com")
@example("me@ab--cd.example.com")
@example("me@xn--zz.com")
@example("me@xn--bcher-kva.example")
@example("me@sub.localhost")
@example("me@example.c0m")
@example(("x" * 64) + "@example.com")
@example(("x" * 65) + "@example.com")
@example("me@" + ("a" * 63 + ".") * 3 + "a" * 58 + ".com")
def test_fast_path_agrees_with_email_validator(address: str) -> None:
    fast = plain_address(address)
    if fast is not None:
        assert fast == _reference(address)
    assert _normalized(address) == _reference(address)


def _normalized(address: str) -> str | None:
    try:
        return normalize_address(address)
    except InvalidInputError:
        return None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Ana@Example.Com", "Ana@example.com"),  # local part kept as typed, domain lower-cased
        ("ana@BÜCHER.example.org", "ana@xn--bcher-kva.example.org"),  # IDN to Punycode
        ("Info@Example.com", "info@example.com"),  # a role mailbox, as email-validator has it
        ("bob@ab-cd.example.com", "bob@ab-cd.example.com"),
    ],
)
def test_normalization(typed: str, stored: str) -> None:
    assert normalize_address(typed) == stored


def test_common_addresses_take_the_fast_path() -> None:
    assert plain_address("person12@example3.com") == "person12@example3.com"
    assert plain_address("O'Brien+tag@Mail.Example.co.uk") == "O'Brien+tag@mail.example.co.uk"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=100))
def test_keyed_hash_is_hmac_sha256(key: bytes, message: bytes) -> None:
    assert keyed_hash(key)(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


@settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(
        st.text(),
        st.one_of(
            st.text(),
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.booleans(),
        ),
    )
)
def test_properties_json_is_what_json_dumps_writes(properties: dict[str, object]) -> None:
    assert properties_json(properties) == json.dumps(properties)
