"""A/B/n tests: variants of subject, content or sender, sent to a share of the
audience; after a wait the winner (by unique human opens or clicks) is sent to
the rest automatically.

Each variant is a campaign of its own on the same lists. The audience is split
without being loaded: a contact's bucket is the first two characters of its
random id (1,024 buckets); the test takes `test_share` percent of the buckets,
dealt out to the variants, and the main campaign excludes them all, so every
contact gets exactly one of the messages. The main campaign is scheduled for
the end of the wait; when its job runs, `abdecide` copies the winner into it.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from courriel.campaigns.control import CampaignControl
from courriel.campaigns.models import AbMetric, AbStatus, AbTest, AbVariant, CampaignStatus
from courriel.campaigns.resolution import plan_of
from courriel.campaigns.service import CampaignService
from courriel.content.models import TemplateVersion
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

_BASE32 = string.ascii_lowercase + "234567"
BUCKETS = [a + b for a in _BASE32 for b in _BASE32]
MAX_VARIANTS = 10


@dataclass(frozen=True)
class VariantSpec:
    """What differs in one variant: its template (subject and content) and/or sender."""

    template_id: str | None = None
    from_email: str | None = None
    from_name: str | None = None


class AbTestService:
    """A/B/n tests of the principal's tenant's campaigns."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        campaigns: CampaignService,
        control: CampaignControl,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._campaigns = campaigns
        self._control = control

    def create(
        self,
        principal: Principal,
        campaign_id: str,
        variants: Sequence[VariantSpec],
        *,
        test_share: int = 20,
        metric: AbMetric = AbMetric.OPENS,
        wait_minutes: int = 240,
    ) -> AbTest:
        """Set up a test on a draft campaign: one campaign per variant."""
        principal.require(Capability.CAMPAIGNS_WRITE)
        if not 2 <= len(variants) <= MAX_VARIANTS:
            raise InvalidInputError("variants", f"give 2 to {MAX_VARIANTS} variants")
        if not 1 <= test_share <= 90:
            raise InvalidInputError("test_share", "must be a percentage from 1 to 90")
        if not 1 <= wait_minutes <= 10_080:
            raise InvalidInputError("wait_minutes", "must be from 1 minute to 7 days")
        main = self._campaigns.get(principal, campaign_id)
        if main.status is not CampaignStatus.DRAFT:
            raise ConflictError(f"a {main.status.value} campaign cannot get an A/B test")
        with self._storage.tenant(principal.tenant_id)() as session:
            if session.scalar(select(AbTest.id).where(AbTest.campaign_id == campaign_id)):
                raise ConflictError("this campaign already has an A/B test")
            version_template = session.scalar(
                select(TemplateVersion.template_id).where(
                    TemplateVersion.id == main.template_version_id
                )
            )
        list_ids = self._campaigns.list_ids_of(principal, campaign_id)
        test_id = new_id("abt")
        created = []
        for index, spec in enumerate(variants):
            if spec.template_id is None and spec.from_email is None and spec.from_name is None:
                raise InvalidInputError(f"variants.{index}", "change the template or the sender")
            label = chr(ord("A") + index)
            created.append(
                self._campaigns.create(
                    principal,
                    name=f"{main.name} [variant {label}]",
                    template_id=spec.template_id or version_template or "",
                    list_ids=list_ids,
                    from_email=spec.from_email or main.from_email,
                    from_name=spec.from_name if spec.from_name is not None else main.from_name,
                    mail_class=main.mail_class,
                )
            )
        buckets = list(BUCKETS)
        random.Random(test_id).shuffle(buckets)  # noqa: S311 (a split, not a secret)
        tested = buckets[: max(len(variants), round(len(BUCKETS) * test_share / 100))]
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            test = AbTest(
                id=test_id,
                campaign_id=campaign_id,
                metric=metric,
                test_share=test_share,
                wait_minutes=wait_minutes,
                status=AbStatus.DRAFT,
                results={},
                created_at=self._clock.now(),
            )
            session.add(test)
            session.flush()
            for index, variant in enumerate(created):
                session.add(
                    AbVariant(
                        campaign_id=variant.id,
                        ab_test_id=test_id,
                        label=chr(ord("A") + index),
                        position=index,
                    )
                )
                plan_of(session, variant.id).id_buckets = tested[index :: len(created)]
            plan_of(session, campaign_id).exclude_buckets = tested
            session.flush()
            session.expunge(test)
        return test

    def start(self, principal: Principal, ab_test_id: str) -> AbTest:
        """Send the variants now; the winner goes to the rest after the wait."""
        principal.require(Capability.CAMPAIGNS_SEND)
        test, variants = self.get(principal, ab_test_id)
        if test.status is not AbStatus.DRAFT:
            raise ConflictError(f"an A/B test {test.status.value} cannot start again")
        now = self._clock.now()
        # The main campaign is checked and scheduled first: if it may not be
        # sent, no variant goes out either.
        self._control.schedule(
            principal, test.campaign_id, at=now + dt.timedelta(minutes=test.wait_minutes)
        )
        for variant in variants:
            self._control.send(principal, variant.campaign_id)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = session.get(AbTest, ab_test_id)
            assert row is not None
            row.status = AbStatus.TESTING
            row.started_at = now
            session.flush()
            session.expunge(row)
        return row

    def get(self, principal: Principal, ab_test_id: str) -> tuple[AbTest, list[AbVariant]]:
        """A test and its variants."""
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            test = session.get(AbTest, ab_test_id)
            if test is None:
                raise NotFoundError(f"no A/B test {ab_test_id!r}")
            variants = list(
                session.scalars(
                    select(AbVariant)
                    .where(AbVariant.ab_test_id == ab_test_id)
                    .order_by(AbVariant.position)
                )
            )
        return test, variants

    def of_campaign(
        self, principal: Principal, campaign_id: str
    ) -> tuple[AbTest, list[AbVariant]] | None:
        """The test a campaign is the main campaign or a variant of; None when it is in none."""
        principal.require(Capability.CAMPAIGNS_READ)
        self._campaigns.reach(principal, campaign_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            test_id = session.scalar(select(AbTest.id).where(AbTest.campaign_id == campaign_id))
            if test_id is None:
                test_id = session.scalar(
                    select(AbVariant.ab_test_id).where(AbVariant.campaign_id == campaign_id)
                )
        return None if test_id is None else self.get(principal, test_id)
