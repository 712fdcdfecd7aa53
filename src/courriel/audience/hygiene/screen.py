"""Screening addresses before they join a list: the rules in the order they apply.

1. a role address (`postmaster@`, `noreply@`…) on a list that refuses them;
2. a disposable domain (`disposable`);
3. a likely typo of a common provider's domain (`typos`), with the fix;
4. a domain that cannot receive mail: it does not exist, has no mail
   server, or publishes a null MX (`maildomains`, RFC 7505).

The cheap rules come first, so DNS is asked only about domains that pass
them. The first rule an address breaks is its one reason. A role address on
a list that flags them is taken and counted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from courriel.audience.hygiene.disposable import installed_path, is_disposable, load_domains
from courriel.audience.hygiene.maildomains import OFFLINE, DomainVerdict, MailDomains
from courriel.audience.hygiene.typos import suggest_domain
from courriel.audience.import_rows import CheckedBatch
from courriel.audience.models import RoleAddresses
from courriel.core.addresses import ROLE_LOCAL_PARTS, domain_of, is_role_address

# Distinct domains whose rule is remembered (a list has a few thousand).
_RULES_KEPT = 50_000


class RefusalKind(enum.StrEnum):
    """Which rule refused an address (a sign-up page words each in its language)."""

    ROLE = "role"
    DISPOSABLE = "disposable"
    TYPO = "typo"
    NO_MAIL = "no-mail"


@dataclass(frozen=True)
class Refusal:
    """Why an address is refused, and the address it probably meant, if any."""

    kind: RefusalKind
    reason: str
    suggestion: str | None = None


class ListHygiene:
    """The hygiene rules, with the disposable list of `data_dir` and DNS verdicts."""

    def __init__(self, data_dir: Path, domains: MailDomains) -> None:
        self._data_dir = Path(data_dir)
        self._domains = domains
        self._disposable: frozenset[str] = frozenset()
        self._stamp: tuple[int, int] | None = None
        # Domain → its rule (None: passes), decided once; cleared with the list.
        self._rules: dict[str, _DomainRule | None] = {}

    def disposable_domains(self) -> frozenset[str]:
        """The disposable list in force, read again when the operator replaced it."""
        path = installed_path(self._data_dir)
        try:
            stat = path.stat()
            stamp: tuple[int, int] = (stat.st_mtime_ns, stat.st_ino)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp != self._stamp:
            self._disposable = load_domains(self._data_dir)
            self._stamp = stamp
            self._rules = {}
        return self._disposable

    def refusal(self, address: str, roles: RoleAddresses) -> Refusal | None:
        """Why a normalized `address` may not join a list with this role rule, or None."""
        if roles is RoleAddresses.REFUSE and is_role_address(address):
            return Refusal(RefusalKind.ROLE, _role_reason(address))
        domain = domain_of(address)
        self.disposable_domains()
        rule = self._domain_rule(domain)
        if rule is not None:
            return rule.refusal(address)
        verdict = self._domains.check([domain])[domain]
        if verdict.verdict is DomainVerdict.REFUSED:
            return Refusal(RefusalKind.NO_MAIL, f"{address}: {verdict.reason}")
        return None

    def screen(self, batch: CheckedBatch, roles: RoleAddresses) -> set[str]:
        """Move the batch's refused rows to its rejections, with the line and the reason;
        count its flagged role addresses; the domains DNS could not check.

        The domain rules are decided once per distinct domain (a batch of
        10,000 rows has a few hundred), the role rule per row.
        """
        self.disposable_domains()
        rules = {domain: self._domain_rule(domain) for domain in {row[2] for row in batch.rows}}
        verdicts = self._domains.check(d for d, rule in rules.items() if rule is None)
        # Per domain, what becomes of its addresses: None (taken) or why refused.
        refusals: dict[str, _DomainRule | str | None] = {}
        for domain, rule in rules.items():
            verdict = verdicts.get(domain)
            if rule is not None:
                refusals[domain] = rule
            elif verdict is not None and verdict.verdict is DomainVerdict.REFUSED:
                refusals[domain] = verdict.reason
            else:
                refusals[domain] = None
        unchecked = {d for d, verdict in verdicts.items() if verdict == OFFLINE}
        refuse_roles = roles is RoleAddresses.REFUSE
        role_names = ROLE_LOCAL_PARTS
        rows, rejected, flagged = [], batch.rejected, 0
        # The loop a million-row import runs once per row: the role test inlined
        # (`is_role_address`), one dictionary look-up for the domain.
        for row in batch.rows:
            address = row[1]
            local = address[: address.rfind("@")]
            if "+" in local:
                local = local[: local.index("+")]
            role = local.lower() in role_names
            if role and refuse_roles:
                rejected.append((row[0], f"email: {_role_reason(address)}"))
                continue
            refused = refusals[row[2]]
            if refused is None:
                flagged += role
                rows.append(row)
            elif isinstance(refused, str):
                rejected.append((row[0], f"email: {address}: {refused}"))
            else:
                rejected.append((row[0], f"email: {refused.refusal(address).reason}"))
        batch.rows = rows
        batch.flagged += flagged
        return unchecked

    def _domain_rule(self, domain: str) -> _DomainRule | None:
        if domain in self._rules:
            return self._rules[domain]
        rule: _DomainRule | None = None
        if is_disposable(domain, self._disposable):
            rule = _DomainRule(domain, disposable=True)
        elif (fixed := suggest_domain(domain)) is not None:
            rule = _DomainRule(domain, suggestion=fixed)
        if len(self._rules) >= _RULES_KEPT:
            self._rules.clear()
        self._rules[domain] = rule
        return rule


@dataclass(frozen=True)
class _DomainRule:
    """A domain refused by the list of disposable domains or as a likely typo."""

    domain: str
    disposable: bool = False
    suggestion: str | None = None

    def refusal(self, address: str) -> Refusal:
        if self.disposable:
            return Refusal(
                RefusalKind.DISPOSABLE,
                f"{address} is at a disposable (throwaway) domain, {self.domain}",
            )
        fixed = f"{address.rpartition('@')[0]}@{self.suggestion}"
        return Refusal(
            RefusalKind.TYPO,
            f"{address}: {self.domain} looks like a typo; did you mean {fixed}?",
            fixed,
        )


def _role_reason(address: str) -> str:
    return f"{address} is a role address (a function, not a person): this list refuses them"
