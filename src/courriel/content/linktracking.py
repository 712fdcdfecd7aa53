"""Finding a template's trackable links and routing them through click URLs.

Only links written literally in the HTML (`<a href="https://…">`) are
tracked: their targets are known when the version is saved, so they are
stored (`TemplateLink`) and a click token only names a position. A link
built from variables (`href="{{ contact.website }}"`), the unsubscribe and
preference links (`{{ unsubscribe_url }}`), `mailto:` and anchors are left
as written. The same walk over the same source gives the same positions at
save time and at send time.

The rewrite happens on the parsed template, once: each tracked href becomes
a call of the `courriel_link` filter, and two slots are added, after
`<body …>` for the preheader and before `</body>` for the open pixel, so a
message needs no string surgery on its 100 KB of HTML.
"""

from __future__ import annotations

import html
import re

from jinja2 import nodes

from courriel.content.links import is_trackable_url

# An href of an <a> or <area> tag whose value is complete in literal text.
_HREF = re.compile(r"""(<(?:a|area)\b[^<>]*?\shref\s*=\s*)(["'])([^"'<>]*)\2""", re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)

LINK_FILTER = "courriel_link"
PREHEADER_FILTER = "courriel_preheader"
PIXEL_FILTER = "courriel_pixel"


def rewrite_links(tree: nodes.Template) -> list[str]:
    """Replace each literal trackable href by a `courriel_link` call; return their URLs."""
    urls: list[str] = []
    for output in tree.find_all(nodes.Output):
        rewritten: list[nodes.Expr] = []
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                rewritten.extend(_split_links(child, urls))
            else:
                rewritten.append(child)
        output.nodes = rewritten
    return urls


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


def _split_links(data: nodes.TemplateData, urls: list[str]) -> list[nodes.Expr]:
    text = data.data
    parts: list[nodes.Expr] = []
    cursor = 0
    for match in _HREF.finditer(text):
        raw = match.group(3)
        url = html.unescape(raw).strip()
        if not is_trackable_url(url):
            continue
        value_start = match.start(3)
        parts.append(nodes.TemplateData(text[cursor:value_start], lineno=data.lineno))
        # A filter, not a call: filters are invoked directly by the compiled
        # template, without the sandbox's per-call checks.
        parts.append(
            nodes.Filter(
                nodes.Const(raw),
                LINK_FILTER,
                [nodes.Const(len(urls))],
                [],
                None,
                None,
                lineno=data.lineno,
            )
        )
        urls.append(url)
        cursor = match.end(3)
    if not parts:
        return [data]
    parts.append(nodes.TemplateData(text[cursor:], lineno=data.lineno))
    return parts
