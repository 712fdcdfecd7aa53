"""Likely typos of the common mailbox providers' domains (`gmial.com` → `gmail.com`)."""

from __future__ import annotations

# The domains most people's addresses are at, in France and elsewhere.
PROVIDERS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.fr",
    "hotmail.com",
    "hotmail.fr",
    "outlook.com",
    "outlook.fr",
    "live.com",
    "live.fr",
    "msn.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "sfr.fr",
    "neuf.fr",
    "laposte.net",
    "bbox.fr",
    "gmx.fr",
    "gmx.com",
    "gmx.de",
    "web.de",
    "protonmail.com",
    "proton.me",
    "yandex.com",
    "mail.com",
)
_KNOWN = frozenset(PROVIDERS)


def distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps),
    or `limit + 1` as soon as it is known to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def suggest_domain(domain: str) -> str | None:
    """The provider domain `domain` is most likely a typo of, or None.

    One edit (a letter missing, added, changed or two swapped) from a
    provider's domain; two for longer names under the same top-level domain,
    where two slips are common and two real domains that close are rare. A
    provider's other country domains are real (`hotmail.de`, `yahoo.it`):
    a different top-level domain counts only when one is cut short of the
    other (`gmail.co`, `gmail.comm`).
    """
    name = domain.lower()
    if name in _KNOWN:
        return None
    base, _, tld = name.rpartition(".")
    best: tuple[int, str] | None = None
    for provider in PROVIDERS:
        provider_base, _, provider_tld = provider.rpartition(".")
        # One letter off a two- or three-letter name is another real name
        # (`mr.com`, `sf.fr`), not a slip.
        if len(provider_base) < 4:
            continue
        if tld != provider_tld and not (
            tld.startswith(provider_tld) or provider_tld.startswith(tld)
        ):
            continue
        limit = 2 if len(name) >= 10 and tld == provider_tld else 1
        found = distance(name, provider, limit)
        if found <= limit and (best is None or found < best[0]):
            best = (found, provider)
    return None if best is None or not base else best[1]


def suggest_address(address: str) -> str | None:
    """`address` with its domain corrected, when the domain looks like a typo."""
    local, _, domain = address.rpartition("@")
    fixed = suggest_domain(domain)
    return None if fixed is None else f"{local}@{fixed}"
