"""The shared transition-table helper and the tables written with it."""

from __future__ import annotations

import enum

import pytest

from courriel.audience.models import SubscriptionStatus
from courriel.audience.subscriptions import TRANSITIONS as SUBSCRIPTIONS
from courriel.audience.subscriptions import can_move, check_move
from courriel.campaigns.lifecycle import RECIPIENT_TRANSITIONS
from courriel.campaigns.lifecycle import TRANSITIONS as CAMPAIGNS
from courriel.campaigns.models import CampaignStatus, RecipientState
from courriel.core.errors import ConflictError
from courriel.core.states import Transitions
from courriel.delivery.models import SPOOL_TRANSITIONS, SpoolState
from courriel.policy.models import PolicyState
from courriel.policy.service import TRANSITIONS as POLICY
from courriel.privacy.models import RequestStatus
from courriel.privacy.rights import TRANSITIONS as REQUESTS


class Door(enum.StrEnum):
    OPEN = "open"
    SHUT = "shut"
    LOCKED = "locked"


def test_a_table_must_name_every_status() -> None:
    with pytest.raises(ValueError, match="lacks the statuses \\['locked'\\]"):
        Transitions("door", {Door.OPEN: {Door.SHUT}, Door.SHUT: {Door.OPEN}})


def test_check_names_both_statuses_and_allows_only_listed_moves() -> None:
    doors = Transitions(
        "door",
        {Door.OPEN: {Door.SHUT}, Door.SHUT: {Door.OPEN, Door.LOCKED}, Door.LOCKED: set()},
    )
    doors.check(Door.SHUT, Door.LOCKED)
    with pytest.raises(ConflictError, match="an open door cannot become locked"):
        doors.check(Door.OPEN, Door.LOCKED)
    with pytest.raises(ConflictError, match="a locked door cannot become open"):
        doors.check(Door.LOCKED, Door.OPEN)
    assert doors.into(Door.OPEN) == [Door.SHUT]
    assert doors.into(Door.SHUT) == [Door.OPEN]
    assert doors.final() == [Door.LOCKED]
    assert doors.targets(Door.SHUT) == {Door.OPEN, Door.LOCKED}


def test_the_final_statuses_of_every_table() -> None:
    assert CAMPAIGNS.final() == [CampaignStatus.SENT, CampaignStatus.CANCELLED]
    assert SUBSCRIPTIONS.final() == [SubscriptionStatus.SUPPRESSED]
    assert REQUESTS.final() == [RequestStatus.FULFILLED, RequestStatus.REJECTED]
    assert POLICY.final() == []
    assert SPOOL_TRANSITIONS.final() == [SpoolState.FINISHED]
    assert RECIPIENT_TRANSITIONS.final() == [RecipientState.SKIPPED, RecipientState.FAILED]


def test_a_choice_to_leave_is_undone_only_by_a_new_opt_in() -> None:
    s = SubscriptionStatus
    for left in (s.UNSUBSCRIBED, s.BOUNCED, s.COMPLAINED, s.SUPPRESSED):
        assert not can_move(left, s.SUBSCRIBED)
        with pytest.raises(ConflictError):
            check_move(left, s.SUBSCRIBED)
    # Staying put is not a move.
    check_move(s.SUBSCRIBED, s.SUBSCRIBED)
    # What a complaint may come from: anyone not already out for good.
    assert SUBSCRIPTIONS.into(s.COMPLAINED) == [s.PENDING, s.SUBSCRIBED]


def test_an_operator_lifts_a_suspension_but_never_straight_to_warning() -> None:
    assert POLICY.allows(PolicyState.SUSPENDED, PolicyState.OK)
    with pytest.raises(ConflictError, match="a suspended policy state cannot become warning"):
        POLICY.check(PolicyState.SUSPENDED, PolicyState.WARNING)
