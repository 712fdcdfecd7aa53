"""A template part's static text encoded once; each message's part assembled from it.

Per message, a compiled template writes its static text as the very string
objects in its code, and only the personalized values are new strings
(Jinja compiles ``yield 'literal'``). So the static strings are found once
in the compiled code and encoded in quoted-printable (`qp`), and a
message's part is the list of those encodings with the values encoded in
between: per message only the values, a few hundred bytes, are encoded,
not the 100 KB of HTML around them. A static string is recognized by
identity, not by equality, so contact data can never pass for template text.

Link slots (`linktracking`) in the static text are cut out when it is
encoded; per message the composer gives each link's encoded href (a click
URL), or the original href when the message is not tracked.
"""

from __future__ import annotations

import operator
import quopri
from collections.abc import Iterator, Sequence
from types import CodeType

from jinja2 import Template

from courriel.content import qp
from courriel.content.linktracking import LinkSlots


class _WithLinks:
    """The encoding of a static string with link slots in it.

    Its encoded pieces are `pieces`; per message the hrefs are appended to
    them and `order` (an itemgetter) picks static pieces and hrefs in turn,
    in one C call rather than a Python loop over ~50 links.
    """

    __slots__ = ("order", "pieces")

    def __init__(self, parts: list[bytes | int]) -> None:
        # A last empty piece: itemgetter of one position would return the
        # item itself, not a tuple.
        self.pieces = [p for p in parts if isinstance(p, bytes)] + [b""]
        first_href = len(self.pieces)
        positions: list[int] = []
        static = 0
        for part in parts:
            if isinstance(part, bytes):
                positions.append(static)
                static += 1
            else:
                positions.append(first_href + part)
        positions.append(static)
        self.order = operator.itemgetter(*positions)


_Encoding = bytes | _WithLinks


def _strings(code: CodeType) -> Iterator[str]:
    for const in code.co_consts:
        if isinstance(const, str):
            yield const
        elif isinstance(const, CodeType):
            # Macros and loops compiled as inner functions.
            yield from _strings(const)


def template_strings(template: Template) -> set[str]:
    """Every string constant of a compiled template's code (its static text among them)."""
    found: set[str] = set()
    found.update(_strings(template.root_render_func.__code__))
    for render in template.blocks.values():
        found.update(_strings(render.__code__))
    return found


class EncodedPart:
    """One part (HTML or text) of a template: static text in quoted-printable."""

    def __init__(self, template: Template, links: LinkSlots | None = None) -> None:
        self._links = links
        self._static: dict[str, tuple[str, _Encoding]] = {}
        for text in template_strings(template):
            self._static[text] = (text, self._encode_static(text))
        self.untracked_hrefs = [qp.encode(raw) for raw in links.originals] if links else []

    def _encode_static(self, text: str) -> _Encoding:
        links = self._links
        if links is None or "\x00" not in text or not links.pattern.search(text):
            return qp.encode(text)
        parts: list[bytes | int] = []
        cursor = 0
        for match in links.pattern.finditer(text):
            if match.start() > cursor:
                parts.append(qp.encode(text[cursor : match.start()]))
            parts.append(int(match.group(1)))
            cursor = match.end()
        if cursor < len(text):
            parts.append(qp.encode(text[cursor:]))
        return _WithLinks(parts)

    def encode(self, chunks: Sequence[str], hrefs: list[bytes]) -> list[bytes]:
        """One message's part: `chunks` as rendered, `hrefs` the encoded link hrefs.

        The pieces join into quoted-printable in DKIM canonical form.
        """
        static = self._static.get
        short, value = qp.encode_short_value, qp.encode_value
        out: list[bytes] = []
        append, extend = out.append, out.extend
        for chunk in chunks:
            found = static(chunk)
            if found is not None and found[0] is chunk:
                encoding = found[1]
                if type(encoding) is bytes:
                    append(encoding)
                else:
                    extend(encoding.order(encoding.pieces + hrefs))  # type: ignore[union-attr]
            elif len(chunk) <= qp.SHORT_VALUE:
                append(short(chunk))
            elif "\x00" in chunk and self._links is not None:
                # Not expected (buffered text gets filter calls), but a marker
                # must never reach a recipient.
                append(qp.encode(self._links.fill(chunk, self._decoded(hrefs))))
            else:
                append(value(chunk))
        return out

    def _decoded(self, hrefs: Sequence[bytes]) -> list[str]:
        return [quopri.decodestring(href).decode("utf-8") for href in hrefs]
