"""Message bodies: what a client decodes is what the preview shows, for any personalization.

The composer encodes a template's static text once and only the personalized
values per message (`encoded.py`, `qp.py`), and hashes the body for DKIM as
it is written. These tests hold that fast path to the plain one: the parts
decode to exactly the rendered content, every line is short, the body is in
DKIM canonical form, and both signatures verify with dkimpy.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import quopri
import re
from email.message import EmailMessage

import dkim as dkimpy
from hypothesis import example, given, settings
from hypothesis import strategies as st

from courriel.content import dkim, links, qp
from courriel.content.compose import Composer, Recipient, SendContext, Sender, contact_context
from courriel.content.models import DkimAlgorithm
from courriel.content.service import TemplateContent, build_version
from courriel.core.wire import dot_stuff

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
KEY = b"k" * 32
TENANT = "ten_" + "a" * 26

# Characters that matter to quoted-printable, SMTP and DKIM canonicalization.
TRICKY = st.text(
    alphabet=st.sampled_from([*list("ab. =\t\r\n<>&\"'-_FromZ"), "é", "€", "\xa0", "😀", "\x00"]),
    max_size=300,
)


def _decoded(piece: bytes) -> str:
    return quopri.decodestring(piece).decode("utf-8")


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


@given(st.lists(TRICKY, max_size=6))
@example(["x" * 200, "  leading", "trailing  ", "\t", ".dot", "=3D"])
@example(["a" * 74 + "é", "a" * 75 + "=", ""])
@example(["\r", "\n"])
def test_pieces_encoded_apart_decode_to_the_text_joined(texts: list[str]) -> None:
    for encode in (qp.encode, qp.encode_value):
        pieces = [encode(text) for text in texts]
        joined = b"".join(pieces)
        # Each piece is encoded apart and ends a line, so each piece's line
        # breaks are its own: a CR ending one piece and an LF starting the
        # next are two breaks, not one CRLF (hypothesis found ['\r', '\n']).
        assert _decoded(joined) == "".join(_crlf(text) for text in texts)
        for piece in pieces:
            assert not piece or piece.endswith(b"\r\n")
        lines = joined.split(b"\r\n")
        # RFC 2045 §6.7 rule 5, and nothing a mail system would rewrite.
        assert all(len(line) <= 76 for line in lines)
        assert b"\r" not in joined.replace(b"\r\n", b"")
        assert b"\x00" not in joined
        # A boundary starting with "=_" can never appear in the encoded text.
        assert b"=_" not in joined
        # Already in relaxed canonical form (RFC 6376 §3.4.4).
        assert dkim.canonical_body(joined + b"end\r\n") == joined + b"end\r\n"
        # No line that SMTP would change in transit (RFC 5321 §4.5.2).
        assert not any(line.startswith(b".") for line in lines)


@given(
    st.text(alphabet=st.sampled_from(list("ab.:/?&%-_")), max_size=300),
    st.lists(st.text(alphabet=st.sampled_from(list("xy.-_")), max_size=200), max_size=4),
)
@example("https://shop.test/t/c/", ["." * 80, "a" * 53 + "." + "b" * 90])
def test_wrapped_urls_decode_unchanged_and_never_start_a_line_with_a_dot(
    prefix: str, items: list[str]
) -> None:
    base = prefix.encode("ascii")
    for item, wrapped in zip(items, qp.wrap_each(base, [i.encode() for i in items]), strict=True):
        assert _decoded(wrapped) == prefix + item
        lines = wrapped.split(b"\r\n")
        assert all(len(line) <= 76 for line in lines)
        assert not any(line.startswith(b".") for line in lines)


@given(st.text(alphabet=".=aé", max_size=400))
@example("." * 300)
@example("a" * 74 + "." + "." * 80)
def test_escaping_leading_dots_keeps_lines_short_and_escapes_whole(text: str) -> None:
    encoded = qp.encode(text)
    escaped = qp.escape_leading_dots(encoded)
    assert _decoded(escaped) == _crlf(text)
    for line in escaped.split(b"\r\n"):
        assert len(line) <= 76
        assert not line.startswith(b".")
        # An escape is never cut: every "=" is a soft break or "=XX".
        assert re.fullmatch(rb"(?:[^=]|=[0-9A-F]{2})*=?", line)


# Links written directly, in a loop, in a macro, in a set block, in a filter
# block, and one built from a variable (never tracked); lines starting with
# dots, trailing spaces, tabs, a line far longer than 998 octets, and text
# that is not ASCII.
HTML = (
    """<html><head><title>{{ campaign.name }}</title></head><body>
<p>Bonjour {{ contact.first_name }}, ville : {{ contact.city|default("?") }}   </p>
.a line that starts with a dot
..and two\t\ttabs
<p>"""
    + ("très long " * 150)
    + """</p>
<a href="https://shop.test/a?x=1&amp;y=2">A</a>
{% for order in contact.orders %}<a href="https://shop.test/order">#{{ order }}</a>
{% endfor %}
{% macro button(label) %}<a href="https://shop.test/macro">{{ label }}</a>{% endmacro %}
{{ button(contact.first_name) }}
{% set block %}<a href="https://shop.test/set">set</a>{% endset %}{{ block }}
{% filter upper %}<a href="https://shop.test/filter">f</a>{% endfilter %}
<a href="{{ contact.site }}">site</a>
<a href="{{ unsubscribe_url }}">Se désabonner</a>
</body></html>"""
)

VALUE = st.text(
    alphabet=st.sampled_from([*list("ab .=\t\n<>&\"'-_"), "é", "€", "😀", "\u202f"]),
    max_size=60,
)


def _keys() -> tuple[list[dkim.DkimSigner], dict[bytes, bytes]]:
    signers, records = [], {}
    for algorithm in (DkimAlgorithm.RSA_SHA256, DkimAlgorithm.ED25519_SHA256):
        key = dkim.generate_private_key(algorithm)
        signers.append(dkim.DkimSigner("shop.test", algorithm.value[:3], algorithm, key))
        record = dkim.dns_record(algorithm, dkim.public_key_text(key))
        records[f"{algorithm.value[:3]}._domainkey.shop.test.".encode()] = record.encode()
    return signers, records


SIGNERS, RECORDS = _keys()
VERSION, _ = build_version(
    "tpl_enc", 1, TemplateContent(subject="Soldes d’été ✨ {{ list.name }}", html=HTML), NOW
)


def _composer(*, tracking: bool = True) -> Composer:
    return Composer(
        VERSION,
        Sender(email="news@shop.test", name="Boutique Élodie"),
        SendContext(
            tenant_id=TENANT, public_url="https://mail.shop.test", secret_key=KEY, tracking=tracking
        ),
        SIGNERS,
    )


COMPOSER = _composer()


def _recipient(first_name: str, city: str, long_value: str = "") -> Recipient:
    return Recipient(
        message_id="msg_" + "b" * 26,
        email="zoe@example.test",
        name=first_name,
        contact=contact_context(
            {"first_name": first_name},
            {"city": city + long_value, "orders": [1, 2], "site": "https://x.test/" + city},
            {},
        ),
    )


def _verify(message: bytes) -> list[bool]:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return RECORDS.get(name)

    return [
        bool(dkimpy.DKIM(message).verify(idx=i, dnsfunc=dnsfunc))
        for i in range(message.count(b"DKIM-Signature:"))
    ]


def _parts(message: bytes) -> tuple[str, str]:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html, text = parsed.get_body(("html",)), parsed.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    return str(html.get_content()), str(text.get_content())


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=25, deadline=None)
@given(first_name=VALUE, city=VALUE, long_value=st.sampled_from(["", "x" * 2500, "é " * 700]))
@example(first_name=".Zoë  <script>", city="a=b\t\tc ", long_value="")
def test_composed_parts_are_the_rendered_content_and_verify(
    first_name: str, city: str, long_value: str
) -> None:
    recipient = _recipient(first_name, city, long_value)
    message = COMPOSER.compose(recipient, NOW)
    content, _context = COMPOSER.render(recipient)
    html, text = _parts(message)
    assert _lf(html) == _lf(content.html)
    assert _lf(text) == _lf(content.text)
    body = message.split(b"\r\n\r\n", 1)[1]
    assert dkim.canonical_body(body) == body
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert _verify(message) == [True, True]
    # Its own SMTP transfer form but for the end marker: what lets the spool
    # store it with `NewMessage(transfer_ready=True)` (RFC 5321 §4.5.2).
    assert dot_stuff(message) == message + b".\r\n"


def test_every_literal_link_is_tracked_wherever_the_template_writes_it() -> None:
    html, _text = _parts(COMPOSER.compose(_recipient("Zoë", "Lyon"), NOW))
    hrefs = re.findall(r'href="([^"]*)"', html, flags=re.IGNORECASE)
    clicks = [h for h in hrefs if "/T/C/" in h.upper()]
    # Direct, loop (twice), macro, set block, filter block (upper-cased by
    # the template itself: the filter block sees the click URL).
    assert len(clicks) == 6
    tokens = [h.rpartition("/")[2] for h in clicks if "/t/c/" in h]
    refs = [links.verify_click_token(KEY, t) for t in tokens]
    assert [r.link_index for r in refs if r is not None] == [0, 1, 1, 2, 3]
    assert COMPOSER.link_urls[:4] == [
        "https://shop.test/a?x=1&y=2",
        "https://shop.test/order",
        "https://shop.test/macro",
        "https://shop.test/set",
    ]
    assert "https://x.test/Lyon" in hrefs
    assert "\x00" not in html


def test_an_untracked_message_keeps_the_links_as_written() -> None:
    html, _text = _parts(_composer(tracking=False).compose(_recipient("Zoë", "Lyon"), NOW))
    assert 'href="https://shop.test/a?x=1&amp;y=2"' in html
    assert 'href="https://shop.test/macro"' in html
    assert "/t/c/" not in html
    assert "/t/o/" not in html
    assert "\x00" not in html
