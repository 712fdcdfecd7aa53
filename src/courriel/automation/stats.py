"""A workflow's figures, per step and in total, read from a handful of rows.

Movement figures (entered, done, completed, converted, left) are counters
kept as people move (`counters.py`); `waiting` is how many are at the step
now (an index on (workflow, state, step)); mail figures (sent, delivered,
opened, clicked, unsubscribed) are the statistics counters of the step's
campaigns, kept by the event recorder like any campaign's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from courriel.automation.models import Enrollment, EnrollmentState, StepCampaign, StepCounter
from courriel.events.models import StatCounter

MOVEMENT = ("entered", "done", "sent", "completed", "converted", "left")
# Campaign statistics shown per step, by the name they are shown under (`sent`
# is the workflow's own counter: a message queued by a send step).
MAIL = {
    "delivered": "delivered",
    "unique_opens": "opened",
    "unique_clicks": "clicked",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
}


@dataclass(frozen=True)
class WorkflowFigures:
    """Totals of the workflow and figures of each step, by step key."""

    totals: dict[str, int]
    steps: dict[str, dict[str, int]] = field(default_factory=dict)


def figures(session: Session, workflow_id: str, step_keys: list[str]) -> WorkflowFigures:
    """The workflow's figures; every step of `step_keys` is present, at 0 when idle."""
    steps: dict[str, dict[str, int]] = {
        key: dict.fromkeys((*MOVEMENT, "waiting", *MAIL.values()), 0) for key in step_keys
    }
    totals: dict[str, int] = dict.fromkeys((*MOVEMENT, "waiting", *MAIL.values()), 0)
    for step_key, metric, count in session.execute(
        select(StepCounter.step_key, StepCounter.metric, StepCounter.count).where(
            StepCounter.workflow_id == workflow_id
        )
    ):
        target = totals if step_key == "" else steps.setdefault(step_key, {})
        target[metric] = target.get(metric, 0) + count
    for step_key, count in session.execute(
        select(Enrollment.step_key, func.count())
        .where(Enrollment.workflow_id == workflow_id, Enrollment.state == EnrollmentState.ACTIVE)
        .group_by(Enrollment.step_key)
    ):
        steps.setdefault(step_key, {})["waiting"] = count
        totals["waiting"] += count
    campaigns: dict[str, list[str]] = defaultdict(list)
    for step_key, campaign_id in session.execute(
        select(StepCampaign.step_key, StepCampaign.campaign_id).where(
            StepCampaign.workflow_id == workflow_id
        )
    ):
        campaigns[campaign_id].append(step_key)
    if campaigns:
        for campaign_id, metric, count in session.execute(
            select(StatCounter.campaign_id, StatCounter.metric, StatCounter.count).where(
                StatCounter.campaign_id.in_(list(campaigns)),
                StatCounter.dimension == "all",
                StatCounter.metric.in_(list(MAIL)),
            )
        ):
            name = MAIL[metric]
            for step_key in campaigns[campaign_id]:
                row = steps.setdefault(step_key, {})
                row[name] = row.get(name, 0) + count
            totals[name] += count
    return WorkflowFigures(totals, steps)
