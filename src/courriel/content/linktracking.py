"""Finding a template's trackable links and routing them through click URLs.

Only links written literally in the HTML (`<a href="https://…">`) are
tracked: their targets are known when the version is saved, so they are
stored (`TemplateLink`) and a click token only names a position. A link
built from variables (`href="{{ contact.website }}"`), the unsubscribe and
preference links (`{{ unsubscribe_url }}`), `mailto:` and anchors are left
as written. The same walk over the same source gives the same positions at
save time and at send time.

The rewrite happens on the parsed template, once, and two slots are added,
after `<body …>` for the preheader and before `</body>` for the open pixel,
so a message needs no string surgery on its 100 KB of HTML. A tracked href
in text the template writes out directly becomes a *link slot*: a marker
in the static text (NUL, a random word chosen per compilation, the link's
position, NUL) that the composer replaces by the click URL while encoding
the static text it already encoded once (`encoded.py`); Jinja does no work
per link. Text that Jinja buffers before writing it (macros, call, set and
filter blocks, recursive loops) may be transformed by the template, so a
marker there could be mangled: those hrefs become a call of the
`courriel_link` filter instead, which prints the URL in place.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from jinja2 import nodes

from courriel.content.links import is_trackable_url

# An href of an <a> or <area> tag whose value is complete in literal text.
_HREF = re.compile(r"""(<(?:a|area)\b[^<>]*?\shref\s*=\s*)(["'])([^"'<>]*)\2""", re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)

LINK_FILTER = "courriel_link"
PREHEADER_FILTER = "courriel_preheader"
PIXEL_FILTER = "courriel_pixel"


@dataclass
class LinkSlots:
    """The trackable links of a template: their targets, and where they are.

    `urls` are the stored targets by position; `originals` the href text as
    written (printed when the message is not tracked). `marker(i)` is the
    text standing for link `i` in the static text.
    """

    urls: list[str] = field(default_factory=list)
    originals: list[str] = field(default_factory=list)
    word: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self.pattern = re.compile("\x00" + self.word + r":(\d+)\x00")

    def marker(self, index: int) -> str:
        """The text standing for link `index` until the message is made."""
        return f"\x00{self.word}:{index}\x00"

    def fill(self, text: str, hrefs: Sequence[str] | None) -> str:
        """`text` with every marker replaced by its href (the original when untracked)."""
        if "\x00" not in text:
            return text
        chosen = self.originals if hrefs is None else hrefs
        return self.pattern.sub(lambda m: chosen[int(m.group(1))], text)


# What Jinja renders into a buffer before writing it out (see the module doc).
_BUFFERED = (nodes.Macro, nodes.CallBlock, nodes.AssignBlock, nodes.FilterBlock)


def rewrite_links(tree: nodes.Template) -> LinkSlots:
    """Replace each literal trackable href by a link slot or filter call; return the links."""
    slots = LinkSlots()
    _rewrite(tree, slots, buffered=False)
    return slots


def _rewrite(node: nodes.Node, slots: LinkSlots, *, buffered: bool) -> None:
    # Depth first, in document order, like `find_all`: positions are stable.
    if isinstance(node, nodes.Output):
        rewritten: list[nodes.Expr] = []
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                rewritten.extend(_split_links(child, slots, buffered=buffered))
            else:
                rewritten.append(child)
        node.nodes = rewritten
    buffered = buffered or isinstance(node, _BUFFERED)
    buffered = buffered or (isinstance(node, nodes.For) and bool(node.recursive))
    for inner in node.iter_child_nodes():
        _rewrite(inner, slots, buffered=buffered)


def add_slots(tree: nodes.Template) -> None:
    """Add the preheader slot after `<body …>` and the pixel slot before `</body>`."""
    if not _insert(tree, _BODY_OPEN, PREHEADER_FILTER, after=True):
        tree.body.insert(0, nodes.Output([_slot(PREHEADER_FILTER, 1)]))
    if not _insert(tree, _BODY_CLOSE, PIXEL_FILTER, after=False, last=True):
        tree.body.append(nodes.Output([_slot(PIXEL_FILTER, 1)]))


def _slot(name: str, lineno: int) -> nodes.Filter:
    return nodes.Filter(nodes.Const(""), name, [], [], None, None, lineno=lineno)


def _insert(
    tree: nodes.Template,
    pattern: re.Pattern[str],
    name: str,
    *,
    after: bool,
    last: bool = False,
) -> bool:
    outputs = list(tree.find_all(nodes.Output))
    for output in reversed(outputs) if last else outputs:
        indexes = range(len(output.nodes))
        for i in reversed(indexes) if last else indexes:
            child = output.nodes[i]
            if not isinstance(child, nodes.TemplateData):
                continue
            matches = list(pattern.finditer(child.data))
            if not matches:
                continue
            match = matches[-1] if last else matches[0]
            cut = match.end() if after else match.start()
            output.nodes[i : i + 1] = [
                nodes.TemplateData(child.data[:cut], lineno=child.lineno),
                _slot(name, child.lineno),
                nodes.TemplateData(child.data[cut:], lineno=child.lineno),
            ]
            return True
    return False


def _split_links(data: nodes.TemplateData, slots: LinkSlots, *, buffered: bool) -> list[nodes.Expr]:
    text = data.data
    parts: list[nodes.Expr] = []
    cursor = 0
    for match in _HREF.finditer(text):
        raw = match.group(3)
        url = html.unescape(raw).strip()
        if not is_trackable_url(url):
            continue
        value_start = match.start(3)
        index = len(slots.urls)
        if buffered:
            parts.append(nodes.TemplateData(text[cursor:value_start], lineno=data.lineno))
            # A filter, not a call: filters are invoked directly by the
            # compiled template, without the sandbox's per-call checks.
            parts.append(
                nodes.Filter(
                    nodes.Const(raw),
                    LINK_FILTER,
                    [nodes.Const(index)],
                    [],
                    None,
                    None,
                    lineno=data.lineno,
                )
            )
        else:
            parts.append(
                nodes.TemplateData(
                    text[cursor:value_start] + slots.marker(index), lineno=data.lineno
                )
            )
        slots.urls.append(url)
        slots.originals.append(raw)
        cursor = match.end(3)
    if not parts:
        return [data]
    parts.append(nodes.TemplateData(text[cursor:], lineno=data.lineno))
    return parts
