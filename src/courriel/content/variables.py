"""What a template version needs before it may be sent.

Two checks run before a send starts, so a campaign never fails half-way for
a reason known in advance:
- every variable is known (contact fields, the send's variables) or has a
  default: declared on the version (`defaults`), given in the template
  (`x|default("…")`), or only tested (`{% if contact.vip %}`);
- a marketing message has an unsubscribe link in its body
  (`{{ unsubscribe_url }}`); transactional mail is exempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jinja2 import meta, nodes

from courriel.content.compose import CONTACT_FIELDS
from courriel.content.models import TemplateVersion
from courriel.content.render import HTML_ENV, TEXT_ENV, parse_part
from courriel.core.errors import InvalidInputError

# Variables every message has (compose.Composer.context).
SEND_VARIABLES = frozenset(
    {
        "contact",
        "campaign",
        "list",
        "sender",
        "unsubscribe_url",
        "preferences_url",
        "view_online_url",
        "locale",
        "timezone",
    }
)


def _parts(version: TemplateVersion) -> Iterator[tuple[str, nodes.Template]]:
    yield "subject", parse_part(TEXT_ENV, version.subject, "subject")
    yield "html", parse_part(HTML_ENV, version.html, "html")
    if version.text:
        yield "text", parse_part(TEXT_ENV, version.text, "text")
    if version.preheader:
        yield "preheader", parse_part(TEXT_ENV, version.preheader, "preheader")


def _defaulted(tree: nodes.Template) -> set[int]:
    """Ids of nodes whose absence the template itself handles."""
    covered: set[int] = set()
    for use in tree.find_all(nodes.Filter):
        if use.name in ("default", "d") and use.node is not None:
            covered.update(id(n) for n in _walk(use.node))
    for test in tree.find_all(nodes.Test):
        covered.update(id(n) for n in _walk(test.node))
    for branch in tree.find_all(nodes.If):
        covered.update(id(n) for n in _walk(branch.test))
    for choice in tree.find_all(nodes.CondExpr):
        covered.update(id(n) for n in _walk(choice.test))
    return covered


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    yield from node.find_all(nodes.Node)


def _contact_attribute(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.attr if node.node.name == "contact" else None
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "contact"
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.arg.value
    return None


def undefined_without_default(version: TemplateVersion) -> list[str]:
    """Variables a send could not fill: neither known nor given a default."""
    declared: dict[str, Any] = version.defaults or {}
    missing: set[str] = set()
    for _part, tree in _parts(version):
        covered = _defaulted(tree)
        names = meta.find_undeclared_variables(tree)
        globals_ = set(HTML_ENV.globals)
        for name in names - SEND_VARIABLES - globals_ - set(declared):
            uses = [n for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
            if any(id(n) not in covered for n in uses):
                missing.add(name)
        for node in [*tree.find_all(nodes.Getattr), *tree.find_all(nodes.Getitem)]:
            attribute = _contact_attribute(node)
            if attribute is None or attribute in CONTACT_FIELDS:
                continue
            if f"contact.{attribute}" in declared or id(node) in covered:
                continue
            missing.add(f"contact.{attribute}")
    return sorted(missing)


def has_unsubscribe_link(version: TemplateVersion) -> bool:
    """Whether the HTML body prints `unsubscribe_url`."""
    tree = parse_part(HTML_ENV, version.html, "html")
    return any(
        node.name == "unsubscribe_url" and node.ctx == "load" for node in tree.find_all(nodes.Name)
    )


def check_sendable(version: TemplateVersion, *, marketing: bool) -> None:
    """Refuse, before anything is sent, a version that would fail or break the rules."""
    if marketing and not has_unsubscribe_link(version):
        raise InvalidInputError(
            "template",
            "a marketing message needs an unsubscribe link in its body: "
            'add <a href="{{ unsubscribe_url }}">unsubscribe</a>',
        )
    missing = undefined_without_default(version)
    if missing:
        raise InvalidInputError(
            "template",
            "variables without a value or default: "
            + ", ".join(missing)
            + ' (declare defaults on the template or write {{ x|default("…") }})',
        )
