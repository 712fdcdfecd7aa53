"""SMTP MTA Strict Transport Security (RFC 8461): the parts that are pure.

A domain announces a policy with a TXT record at ``_mta-sts.<domain>``
(``v=STSv1; id=…``, §3.1) and serves it over HTTPS at
``https://mta-sts.<domain>/.well-known/mta-sts.txt`` (§3.2). In ``enforce``
mode a sender delivers only to MX hosts the policy names, over TLS whose
certificate is valid for that host name (§4, §5); it never falls back to
cleartext or to an unnamed host. ``testing`` mode is reported, not enforced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Mode = Literal["enforce", "testing", "none"]

# RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
MAX_AGE_LIMIT = 31_557_600
# §3.3: a policy body larger than 64 KiB is refused.
MAX_POLICY_BYTES = 64 * 1024
_ID = re.compile(r"[A-Za-z0-9]{1,32}")


class PolicyError(ValueError):
    """A record or policy that is not valid MTA-STS (treated as no policy)."""


@dataclass(frozen=True)
class MtaStsPolicy:
    """A domain's fetched policy."""

    id: str
    mode: Mode
    mx: tuple[str, ...]
    max_age: int

    def allows(self, host: str) -> bool:
        """Whether MX `host` is named by the policy (§4.1: a leading ``*.``
        matches exactly one left-most label)."""
        name = host.lower().rstrip(".")
        for pattern in self.mx:
            if pattern.startswith("*."):
                suffix = pattern[1:]
                label, dot, rest = name.partition(".")
                if dot and label and "." + rest == suffix:
                    return True
            elif name == pattern:
                return True
        return False


def parse_record(texts: list[str]) -> str | None:
    """The policy id announced by the TXT strings of ``_mta-sts.<domain>``, or None.

    §3.1: only records starting ``v=STSv1`` count; more than one such record
    means no policy, as does a malformed one.
    """
    found = [t for t in texts if t.strip().startswith("v=STSv1")]
    if len(found) != 1:
        return None
    fields = {}
    for part in found[0].split(";"):
        key, eq, value = part.strip().partition("=")
        if eq:
            fields[key.strip()] = value.strip()
    policy_id = fields.get("id", "")
    return policy_id if _ID.fullmatch(policy_id) else None


def parse_policy(text: str, policy_id: str) -> MtaStsPolicy:
    """The policy file's fields (§3.2): ``key: value`` lines, CRLF or LF."""
    fields: dict[str, str] = {}
    mx: list[str] = []
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() == "mx":
            mx.append(value.strip().lower().rstrip("."))
        elif colon:
            fields.setdefault(key.strip(), value.strip())
    version, mode = fields.get("version", ""), fields.get("mode", "")
    raw_age = fields.get("max_age")
    if raw_age is not None and (not raw_age.isdigit() or len(raw_age) > 10):
        raise PolicyError(f"max_age {raw_age!r} is not a number of seconds")
    max_age = min(int(raw_age), MAX_AGE_LIMIT) if raw_age is not None else None
    if version != "STSv1":
        raise PolicyError("the policy's version is not STSv1")
    if mode not in ("enforce", "testing", "none"):
        raise PolicyError(f"unknown mode {mode!r}")
    if max_age is None:
        raise PolicyError("the policy has no max_age")
    if mode != "none" and not mx:
        raise PolicyError("the policy names no mx")
    checked: Mode = mode  # type: ignore[assignment]
    return MtaStsPolicy(id=policy_id, mode=checked, mx=tuple(mx), max_age=max_age)
