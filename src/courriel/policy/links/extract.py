"""The links of a message and the text shown for them; the phishing sign.

A link whose shown text looks like a URL or a domain (``www.mybank.com``)
but leads to another domain is the classic phishing trick, and the one
filters look for first: the reader trusts what they see, the click goes
elsewhere. Shown text that is not a URL ("Read more") says nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

# A shown text that is a URL or a bare domain name: optional scheme, labels
# with a final alphabetic label of two letters or more, optional path.
_URLISH = re.compile(
    r"^(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})\.?(?::\d+)?(?:[/?#]\S*)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Link:
    """One ``<a href>`` of a message and the text shown for it."""

    href: str
    text: str


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[Link] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self._open.append((href, []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open:
            href, text = self._open.pop()
            self.links.append(Link(href.strip(), " ".join("".join(text).split())))

    def handle_data(self, data: str) -> None:
        for _, text in self._open:
            text.append(data)

    def close(self) -> None:
        super().close()
        # An anchor never closed still counts, with what text it had.
        for href, text in self._open:
            self.links.append(Link(href.strip(), " ".join("".join(text).split())))
        self._open.clear()


def links_of(html: str) -> list[Link]:
    """Every link of an HTML body, in document order."""
    parser = _Anchors()
    parser.feed(html)
    parser.close()
    return parser.links


def checkable(href: str) -> bool:
    """Whether a link is fetched: absolute http(s), no template placeholder.

    A placeholder (``{{ unsubscribe_url }}``, ``?id={{ contact.id }}``) is
    filled per recipient at send; the static checks cover the rest
    (``javascript:``, bare IP addresses, shorteners).
    """
    lowered = href.lower()
    return lowered.startswith(("http://", "https://")) and "{{" not in href and "{%" not in href


def host_of(url: str) -> str:
    """The lower-case host of a URL without the final dot ("" when there is none)."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def shown_domain(text: str) -> str | None:
    """The domain the shown text of a link names, if it looks like a URL or domain."""
    match = _URLISH.match(text.strip())
    return match.group(1).lower() if match else None


def related(a: str, b: str) -> bool:
    """Whether two host names are one site: equal, or one is under the other.

    ``www.example.com`` and ``example.com`` are one site; ``example.com`` and
    ``example.com.evil.test`` are not (the shared part must be a suffix).
    """
    a, b = a.removeprefix("www."), b.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def mismatch(link: Link) -> str | None:
    """The phishing problem of a link whose shown URL names another domain, or None."""
    shown = shown_domain(link.text)
    target = host_of(link.href)
    if shown is None or not target or related(shown, target):
        return None
    return f"shows {shown} but leads to {target}"
