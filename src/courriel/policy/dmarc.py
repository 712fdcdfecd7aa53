"""Reading a DMARC record with care (RFC 7489 §6.3, §6.4, §6.6.3).

A record is the TXT at ``_dmarc.<domain>`` that starts with ``v=DMARC1``;
other TXT records there are ignored, and more than one DMARC record means
none applies. Tags are ``name=value`` pairs separated by ``;`` with optional
whitespace; a record that breaks the syntax is discarded as a whole. Without
a valid ``p`` tag, a record with a reporting address (``rua``) counts as
``p=none`` (§6.6.3), one without does not count at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

POLICIES = ("none", "quarantine", "reject")
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class DmarcError(ValueError):
    """Not a usable DMARC record; the message says what is wrong."""


@dataclass(frozen=True)
class DmarcRecord:
    """The tags of one DMARC record that matter to a sender."""

    policy: str
    tags: dict[str, str] = field(default_factory=dict)
    # True when p= was missing or invalid and `rua` made it count as p=none.
    assumed_none: bool = False

    @property
    def percent(self) -> int:
        """The share of mail the policy applies to (pct=, default 100)."""
        try:
            return max(0, min(100, int(self.tags.get("pct", "100"))))
        except ValueError:
            return 100

    @property
    def strict_dkim(self) -> bool:
        return self.tags.get("adkim", "r") == "s"

    @property
    def strict_spf(self) -> bool:
        return self.tags.get("aspf", "r") == "s"


def pick_record(texts: list[str]) -> str | None:
    """The one DMARC record among the TXT strings at _dmarc; None if there is none.

    Raises `DmarcError` when there are several (RFC 7489 §6.6.3: none applies).
    """
    found = [t for t in texts if re.match(r"^\s*v\s*=\s*DMARC1\s*(;|$)", t)]
    if len(found) > 1:
        raise DmarcError("more than one DMARC record at _dmarc: receivers apply none")
    return found[0] if found else None


def parse(text: str) -> DmarcRecord:
    """The record's tags; `DmarcError` naming the first problem."""
    tags = _tags(text)
    policy = tags.get("p", "")
    if policy in POLICIES:
        for name in ("sp", "adkim", "aspf"):
            allowed = POLICIES if name == "sp" else ("r", "s")
            if name in tags and tags[name] not in allowed:
                raise DmarcError(f"{name}={tags[name]} is not one of {', '.join(allowed)}")
        return DmarcRecord(policy=policy, tags=tags)
    if any(uri.strip().lower().startswith("mailto:") for uri in tags.get("rua", "").split(",")):
        return DmarcRecord(policy="none", tags=tags, assumed_none=True)
    if "p" not in tags:
        raise DmarcError("no p= tag (p=none, quarantine or reject is required)")
    raise DmarcError(f"p={policy} is not one of none, quarantine, reject")


def _tags(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for index, raw in enumerate(text.split(";")):
        part = raw.strip()
        if not part:
            continue  # A trailing ";" is allowed (RFC 7489 §6.4 dmarc-sep).
        name, equals, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not equals or not _TAG.match(name):
            raise DmarcError(f"{part!r} is not a tag=value pair")
        if index == 0 and (name != "v" or value != "DMARC1"):
            raise DmarcError("a DMARC record must start with v=DMARC1")
        if name in tags:
            raise DmarcError(f"the tag {name}= appears twice")
        tags[name] = value if name in ("rua", "ruf") else value.lower()
    return tags
