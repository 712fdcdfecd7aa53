"""The thresholds of the sending policy, and how a set of figures measures against them.

Pure functions over counts, so every rule is tested with plain numbers. A
finding's `ratio` is its value over its limit: 1 or more crosses the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from courriel.config import Settings
from courriel.policy.models import PolicyState


@dataclass(frozen=True)
class Figures:
    """Counts over the rolling window, and over the last 24 hours."""

    sent: int
    bounced: int
    blocked: int
    unsubscribed: int
    clicks: int
    spam_trap_hits: int
    sent_day: int
    complaints_day: int


@dataclass(frozen=True)
class Finding:
    """One rule measured: the figure, its limit, and what it is."""

    rule: str
    value: float
    limit: float
    ratio: float
    text: str

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "value": self.value,
            "limit": self.limit,
            "ratio": round(self.ratio, 3),
            "text": self.text,
        }


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _finding(rule: str, value: float, limit: float, text: str) -> Finding:
    ratio = value / limit if limit else (float("inf") if value else 0.0)
    return Finding(rule, round(value, 6), limit, ratio, text)


def measure(figures: Figures, settings: Settings) -> list[Finding]:
    """Every rule that applies to these figures, measured."""
    found: list[Finding] = []
    if figures.sent >= settings.policy_min_volume:
        bounce = _rate(figures.bounced, figures.sent)
        found.append(
            _finding(
                "bounce_rate",
                bounce,
                settings.policy_bounce_rate_max,
                f"{figures.bounced} of {figures.sent} sent messages bounced ({bounce:.2%}); "
                f"the limit is {settings.policy_bounce_rate_max:.2%}",
            )
        )
        # Unsubscribes outnumbering clicks mean the mail is unwanted: a lower limit.
        over_clicks = figures.unsubscribed > figures.clicks
        limit = (
            settings.policy_unsubscribe_rate_max_over_clicks
            if over_clicks
            else settings.policy_unsubscribe_rate_max
        )
        unsubscribe = _rate(figures.unsubscribed, figures.sent)
        found.append(
            _finding(
                "unsubscribe_rate",
                unsubscribe,
                limit,
                f"{figures.unsubscribed} of {figures.sent} recipients unsubscribed "
                f"({unsubscribe:.2%}); the limit is {limit:.2%}"
                + (f" since unsubscribes exceed clicks ({figures.clicks})" if over_clicks else ""),
            )
        )
        block = _rate(figures.blocked, figures.sent)
        found.append(
            _finding(
                "block_rate",
                block,
                settings.policy_block_rate_max,
                f"{figures.blocked} of {figures.sent} sent messages were blocked ({block:.2%}); "
                f"the limit is {settings.policy_block_rate_max:.2%}",
            )
        )
    if figures.sent_day > settings.policy_complaint_rate_min_daily:
        complaint = _rate(figures.complaints_day, figures.sent_day)
        found.append(
            _finding(
                "complaint_rate",
                complaint,
                settings.policy_complaint_rate_max,
                f"{figures.complaints_day} spam complaints for {figures.sent_day} messages sent "
                f"in 24 hours ({complaint:.3%}); the limit is "
                f"{settings.policy_complaint_rate_max:.3%}",
            )
        )
    found.append(
        _finding(
            "complaints_per_day",
            figures.complaints_day,
            # "At most 50": 51 crosses it, so the limit the ratio is taken against is 50.
            max(settings.policy_complaints_per_day_max, 0),
            f"{figures.complaints_day} spam complaints in 24 hours; at most "
            f"{settings.policy_complaints_per_day_max} are allowed",
        )
    )
    found.append(
        _finding(
            "spam_trap_hits",
            figures.spam_trap_hits,
            settings.policy_spam_trap_hits_max,
            f"{figures.spam_trap_hits} spam-trap hits; at most "
            f"{settings.policy_spam_trap_hits_max} allowed",
        )
    )
    return found


def crossed(finding: Finding) -> bool:
    """The figure is over its limit (a limit of "at most N" allows N)."""
    return finding.value > finding.limit


def verdict(findings: list[Finding], settings: Settings) -> PolicyState:
    """The state these findings call for."""
    over = [f for f in findings if crossed(f)]
    if any(f.ratio >= settings.policy_suspend_factor for f in over):
        return PolicyState.SUSPENDED
    if over:
        return PolicyState.LIMITED
    if any(f.ratio >= settings.policy_warning_share for f in findings if f.value > 0):
        return PolicyState.WARNING
    return PolicyState.OK
