"""Warm-up plans: how much a new pool may send each provider each day.

A provider trusts a new sending address only gradually: it watches the
first days' volume and complaints before accepting more. A plan gives a
pool a daily cap per provider growing over about 30 days
(`DEFAULT_SCHEDULES`); the lane throttles enforce it with the rate limits.

- Counting: every worker asks `reserve` for a run of messages before it
  sends them; the day's count lives in the spool database (one row per
  pool, plan and date, locked while it is counted), so the cap holds across
  every engine. Slots reserved but not used go back (`release`).
- Over the cap: the lane stops for the day and its messages wait in the
  queue, unattempted, until the next day begins (`next_day`): never a
  bounce.
- Pausing: a provider that defers for rate or reputation (421, 4.7.x) or
  blocks the pool is telling us the volume grew too fast. The plan then
  pauses: its day stops moving on, so the cap stays where it is, until an
  operator resumes it (`resume`) once the cause is understood.
- Days are calendar days in the ``warmup_timezone`` setting (UTC unless set).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from courriel.config.profiles import DEFAULT_PROFILE
from courriel.core.db import insert_for, transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.delivery.models import WarmupDay, WarmupPlan
from courriel.delivery.replies import Classification, Outcome

# Daily caps for days 1 to 30, per provider: conservative figures in line
# with what the large mailbox providers publish for new IPs (start in the
# tens, roughly double every few days, reach volume in a month).
_GROWTH = (
    (50, 100, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000),
    (4_000, 5_000, 7_000, 10_000, 12_000, 15_000, 20_000, 25_000, 30_000, 40_000),
    (50_000, 60_000, 75_000, 90_000, 110_000, 130_000, 150_000, 175_000, 200_000, 250_000),
)
_BASE = [cap for block in _GROWTH for cap in block]
DEFAULT_SCHEDULES: dict[str, list[int]] = {
    "google": _BASE,
    # Yahoo and Microsoft defer new IPs sooner: start lower, grow the same way.
    "yahoo": [max(20, cap // 2) for cap in _BASE],
    "microsoft": [max(20, cap // 2) for cap in _BASE],
    DEFAULT_PROFILE: _BASE,
}
MAX_SCHEDULE_DAYS = 365
MAX_DAILY_CAP = 100_000_000

# Replies that mean "too much, too fast from this address" (`replies.py`
# reasons): they pause a plan. Unknown users or full mailboxes do not.
_PUSHBACK = frozenset({"rate-limit", "policy", "blocklisted", "spam", "service-unavailable"})


def pushback(verdict: Classification) -> str | None:
    """Why ``verdict`` pauses a warm-up plan, or None when it does not."""
    if verdict.outcome in (Outcome.THROTTLED, Outcome.BLOCKED) and verdict.reason in _PUSHBACK:
        kind = "deferred" if verdict.outcome is Outcome.THROTTLED else "blocked"
        return f"{kind} ({verdict.reason}{', ' + verdict.enhanced if verdict.enhanced else ''})"
    return None


def check_schedule(schedule: Sequence[int]) -> list[int]:
    """A valid schedule as a list, or `InvalidInputError` naming what is wrong."""
    caps = list(schedule)
    if not caps:
        raise InvalidInputError("schedule", "a warm-up schedule needs at least one day's cap")
    if len(caps) > MAX_SCHEDULE_DAYS:
        raise InvalidInputError(
            "schedule", f"a warm-up schedule has at most {MAX_SCHEDULE_DAYS} days"
        )
    for number, cap in enumerate(caps, start=1):
        if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= MAX_DAILY_CAP:
            raise InvalidInputError(
                "schedule",
                f"day {number} of the warm-up schedule: the cap must be a whole number "
                f"from 1 to {MAX_DAILY_CAP}, not {cap!r}",
            )
        if number > 1 and cap < caps[number - 2]:
            raise InvalidInputError(
                "schedule",
                f"day {number} of the warm-up schedule: the cap ({cap}) is below the day "
                f"before ({caps[number - 2]}); a warm-up never shrinks",
            )
    return caps


@dataclass(frozen=True)
class WarmupStatus:
    """Where one plan stands today (for the API, the CLI and the page)."""

    pool: str
    provider: str
    schedule: list[int]
    day: int
    cap: int | None
    sent_today: int
    paused: bool
    paused_reason: str
    paused_at: dt.datetime | None
    today: str

    @property
    def complete(self) -> bool:
        """Past the schedule's last day: nothing is capped any more."""
        return self.cap is None


class WarmupPlans:
    """The plans and their daily counts, shared by every worker (module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], timezone: str = "UTC") -> None:
        self._sessions = sessions
        self._zone = ZoneInfo(timezone)

    def today(self, now: dt.datetime) -> dt.date:
        """The warm-up day's date at ``now``."""
        return now.astimezone(self._zone).date()

    def next_day(self, now: dt.datetime) -> dt.datetime:
        """When the day after ``now``'s begins (UTC), when capped messages are due again."""
        tomorrow = self.today(now) + dt.timedelta(days=1)
        start = dt.datetime.combine(tomorrow, dt.time(), tzinfo=self._zone)
        return start.astimezone(dt.UTC)

    def has_plans(self) -> bool:
        """Whether any plan exists (workers skip the counting when none does)."""
        with self._sessions() as session:
            return session.scalars(select(WarmupPlan.pool).limit(1)).first() is not None

    def reserve(self, pool: str, provider: str, want: int, now: dt.datetime) -> int | None:
        """Count up to ``want`` messages of ``pool`` to ``provider`` today; how many may go.

        None: no plan applies (or it is complete), nothing is capped.
        """
        today = self.today(now)
        with transaction(self._sessions) as session:
            plan = self._plan(session, pool, provider, lock=True)
            if plan is None:
                return None
            cap = _cap(_advance(plan, today))
            if cap is None:
                return None
            count = self._count(session, pool, plan.provider, today)
            granted = max(0, min(want, cap - count.sent))
            count.sent += granted
            return granted

    def release(self, pool: str, provider: str, unused: int, now: dt.datetime) -> None:
        """Give back ``unused`` messages reserved today and not sent."""
        if unused <= 0:
            return
        today = self.today(now)
        with transaction(self._sessions) as session:
            plan = self._plan(session, pool, provider, lock=False)
            if plan is None:
                return
            count = self._count(session, pool, plan.provider, today)
            count.sent = max(0, count.sent - unused)

    def pause(self, pool: str, provider: str, reason: str, now: dt.datetime) -> bool:
        """Pause the plan that applies to ``provider``; False when none applies."""
        with transaction(self._sessions) as session:
            plan = self._plan(session, pool, provider, lock=True)
            if plan is None:
                return False
            _advance(plan, self.today(now))
            if not plan.paused:
                plan.paused, plan.paused_at = True, now
                plan.paused_reason = reason[:500]
            return True

    def resume(self, pool: str, provider: str, now: dt.datetime) -> WarmupStatus:
        """Let a paused plan move on again, from the day it stood at."""
        with transaction(self._sessions) as session:
            plan = self._exact(session, pool, provider)
            _advance(plan, self.today(now))
            plan.paused, plan.paused_reason, plan.paused_at = False, "", None
            return self._status(session, plan, now)

    def put(
        self, pool: str, provider: str, schedule: Sequence[int], now: dt.datetime, day: int = 1
    ) -> WarmupStatus:
        """Create or replace the plan of ``pool`` towards ``provider``, starting at ``day``."""
        caps = check_schedule(schedule)
        if not 1 <= day <= len(caps) + 1:
            raise InvalidInputError(
                "day", f"the starting day must be from 1 to {len(caps) + 1}, not {day}"
            )
        with transaction(self._sessions) as session:
            plan = session.get(WarmupPlan, (pool, provider))
            if plan is None:
                plan = WarmupPlan(
                    pool=pool, provider=provider, paused=False, paused_reason="", created_at=now
                )
                session.add(plan)
            plan.schedule, plan.day, plan.day_date = caps, day, self.today(now).isoformat()
            return self._status(session, plan, now)

    def remove(self, pool: str, provider: str | None = None) -> int:
        """Delete the plan (or every plan of ``pool``) and its counts; how many plans went."""
        with transaction(self._sessions) as session:
            plans = delete(WarmupPlan).where(WarmupPlan.pool == pool)
            days = delete(WarmupDay).where(WarmupDay.pool == pool)
            if provider is not None:
                plans = plans.where(WarmupPlan.provider == provider)
                days = days.where(WarmupDay.provider == provider)
            removed = session.execute(plans).rowcount  # type: ignore[attr-defined]
            session.execute(days)
            return int(removed)

    def status(self, now: dt.datetime, pool: str | None = None) -> list[WarmupStatus]:
        """Every plan (of ``pool``), as it stands at ``now``."""
        with transaction(self._sessions) as session:
            query = select(WarmupPlan).order_by(WarmupPlan.pool, WarmupPlan.provider)
            if pool is not None:
                query = query.where(WarmupPlan.pool == pool)
            return [self._status(session, plan, now) for plan in session.scalars(query)]

    def _status(self, session: Session, plan: WarmupPlan, now: dt.datetime) -> WarmupStatus:
        today = self.today(now)
        _advance(plan, today)
        count = session.get(WarmupDay, (plan.pool, plan.provider, today.isoformat()))
        return WarmupStatus(
            pool=plan.pool,
            provider=plan.provider,
            schedule=list(plan.schedule),
            day=plan.day,
            cap=_cap(plan),
            sent_today=count.sent if count else 0,
            paused=plan.paused,
            paused_reason=plan.paused_reason,
            paused_at=plan.paused_at,
            today=today.isoformat(),
        )

    def _exact(self, session: Session, pool: str, provider: str) -> WarmupPlan:
        plan = session.get(WarmupPlan, (pool, provider), with_for_update=True)
        if plan is None:
            raise NotFoundError(f"no warm-up plan for pool {pool!r} and provider {provider!r}")
        return plan

    def _plan(self, session: Session, pool: str, provider: str, *, lock: bool) -> WarmupPlan | None:
        """The plan for ``provider``, else the pool's "default" plan (row-locked if ``lock``)."""
        for name in dict.fromkeys((provider, DEFAULT_PROFILE)):
            plan = session.get(WarmupPlan, (pool, name), with_for_update=lock)
            if plan is not None:
                return plan
        return None

    def _count(self, session: Session, pool: str, provider: str, today: dt.date) -> WarmupDay:
        key = {"pool": pool, "provider": provider, "day_date": today.isoformat()}
        session.execute(
            insert_for(session)(WarmupDay).on_conflict_do_nothing(), [key | {"sent": 0}]
        )
        # Row lock on PostgreSQL: two engines counting the same day queue here.
        return session.scalars(
            select(WarmupDay)
            .where(
                WarmupDay.pool == pool,
                WarmupDay.provider == provider,
                WarmupDay.day_date == key["day_date"],
            )
            .with_for_update()
        ).one()


def _advance(plan: WarmupPlan, today: dt.date) -> WarmupPlan:
    """Move the plan's day on to ``today`` (not while paused: the day stands still)."""
    since = dt.date.fromisoformat(plan.day_date)
    if today > since:
        if not plan.paused:
            plan.day += (today - since).days
        plan.day_date = today.isoformat()
    return plan


def _cap(plan: WarmupPlan) -> int | None:
    schedule = list(plan.schedule)
    return schedule[plan.day - 1] if plan.day <= len(schedule) else None
