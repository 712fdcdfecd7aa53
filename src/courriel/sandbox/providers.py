"""The simulated inbox providers of the sandbox internet and their domains.

A provider is what the delivery engine sees as one destination: a set of
domains that share one MX host, so they share one delivery lane and one
throttle profile, just as every Google-hosted domain shares Google's MX.
All names end in ``.test`` (RFC 2606 §2), a top-level domain that can never
exist on the real internet, so a misrouted sandbox message cannot leak out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "DEFAULT_PROVIDERS",
    "EXAMPLE",
    "GOOGLE",
    "MICROSOFT",
    "YAHOO",
    "Provider",
    "numbered_domains",
    "provider_for_domain",
    "with_extra_domains",
]


@dataclass(frozen=True, slots=True)
class Provider:
    """One simulated inbox provider: one SMTP server, many domains.

    ``name`` is the key used everywhere else (behaviours, store rows, the
    CLI); ``mx_host`` is the name the zone file maps the domains to, and the
    name the server announces in its greeting; ``domains`` are the mail
    domains it accepts mail for.
    """

    name: str
    mx_host: str
    domains: tuple[str, ...]

    def __post_init__(self) -> None:
        # Domains are compared case-insensitively (RFC 5321 §2.4), so they
        # are kept lower-case once here rather than at every lookup.
        object.__setattr__(self, "domains", tuple(d.lower() for d in self.domains))
        object.__setattr__(self, "mx_host", self.mx_host.lower())
        if not self.domains:
            raise ValueError(f"provider {self.name!r} has no domains")

    def handles(self, domain: str) -> bool:
        """Whether mail for ``domain`` is this provider's to accept."""
        return domain.lower() in self.domains

    def with_domains(self, extra: Iterable[str]) -> Provider:
        """A copy of this provider that also accepts mail for ``extra``."""
        added = tuple(d.lower() for d in extra if d.lower() not in self.domains)
        return Provider(self.name, self.mx_host, self.domains + added)


GOOGLE = Provider("google", "mx.google.test", ("gmail.test", "googlemail.test"))
YAHOO = Provider("yahoo", "mx.yahoo.test", ("yahoo.test", "ymail.test"))
MICROSOFT = Provider("microsoft", "mx.outlook.test", ("outlook.test", "hotmail.test"))
EXAMPLE = Provider("example", "mx.example.test", ("example.test", "example.org.test"))

DEFAULT_PROVIDERS: tuple[Provider, ...] = (GOOGLE, YAHOO, MICROSOFT, EXAMPLE)
"""The providers the sandbox plays unless told otherwise."""


def numbered_domains(provider: Provider, count: int, start: int = 1) -> tuple[str, ...]:
    """``d{N}.<provider>.test`` domains, for tests that need many domains.

    Benchmarks and lane tests need dozens of domains hosted by a handful of
    MX hosts (the real world's shape: millions of domains, few providers).
    """
    if count < 0:
        raise ValueError("count must not be negative")
    return tuple(f"d{n}.{provider.name}.test" for n in range(start, start + count))


def with_extra_domains(
    count_per_provider: int,
    providers: Sequence[Provider] = DEFAULT_PROVIDERS,
) -> tuple[Provider, ...]:
    """``providers``, each also hosting ``count_per_provider`` numbered domains."""
    return tuple(p.with_domains(numbered_domains(p, count_per_provider)) for p in providers)


def provider_for_domain(domain: str, providers: Iterable[Provider]) -> Provider | None:
    """The provider that accepts mail for ``domain``, if any."""
    for provider in providers:
        if provider.handles(domain):
            return provider
    return None
