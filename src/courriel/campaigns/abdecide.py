"""Choosing the winner of an A/B/n test, when the rest of the audience is due.

Runs inside the fan-out gate's transaction when the test's main campaign,
scheduled for the end of the wait, starts: the winner's template version and
sender are copied into it (the snapshot it then sends), and the figures of
every variant are stored with the decision.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.campaigns.models import AbMetric, AbStatus, AbTest, AbVariant, Campaign
from courriel.events.models import StatCounter

# Unique human opens (machine opens by privacy proxies do not count) or unique
# clicks (scanners' clicks are already left out of them by tracking).
_FIGURE = {AbMetric.OPENS: "unique_human_opens", AbMetric.CLICKS: "unique_clicks"}


def decide_if_tested(session: Session, campaign: Campaign, now: dt.datetime) -> None:
    """If `campaign` ends an A/B test still testing, choose and apply the winner."""
    test = session.scalar(
        select(AbTest).where(AbTest.campaign_id == campaign.id, AbTest.status == AbStatus.TESTING)
    )
    if test is None:
        return
    variants = session.scalars(
        select(AbVariant).where(AbVariant.ab_test_id == test.id).order_by(AbVariant.position)
    ).all()
    figure = _FIGURE[test.metric]
    results: dict[str, dict[str, Any]] = {}
    for variant in variants:
        rows = session.execute(
            select(StatCounter.metric, StatCounter.count).where(
                StatCounter.campaign_id == variant.campaign_id,
                StatCounter.dimension == "all",
                StatCounter.key == "",
                StatCounter.metric.in_([figure, "queued"]),
            )
        ).all()
        by_metric = {m: int(c) for m, c in rows}
        results[variant.label] = {
            "campaign_id": variant.campaign_id,
            "queued": by_metric.get("queued", 0),
            figure: by_metric.get(figure, 0),
        }

    # Highest share of the figure among the variant's messages; ties go to the first.
    def score(v: AbVariant) -> tuple[float, int]:
        got = results[v.label]
        return got[figure] / max(got["queued"], 1), -v.position

    winner = max(variants, key=score)
    chosen = session.get(Campaign, winner.campaign_id)
    assert chosen is not None
    campaign.template_version_id = chosen.template_version_id
    campaign.from_email = chosen.from_email
    campaign.from_name = chosen.from_name
    test.status = AbStatus.DECIDED
    test.decided_at = now
    test.winner_campaign_id = winner.campaign_id
    test.results = {"metric": figure, "winner": winner.label, "variants": results}
