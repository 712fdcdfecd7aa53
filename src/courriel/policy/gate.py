"""The checks a campaign passes before it may start sending (`CampaignService.send_checks`).

In order: the tenant is not suspended by the sending policy (both classes of
mail), the From domain is not free webmail and is verified and aligned, and
the content checklist has no blocking item.
"""

from __future__ import annotations

from courriel.campaigns.service import SendCheck
from courriel.config import Settings
from courriel.content.dkimkeys import DkimKeyService
from courriel.core.clock import Clock
from courriel.core.storage import Storage
from courriel.delivery.spool import Spool
from courriel.policy.checks import ContentChecks
from courriel.policy.domains import SenderDomainService
from courriel.policy.service import PolicyService


def send_checks(
    storage: Storage, settings: Settings, clock: Clock, secret_key: bytes
) -> list[SendCheck]:
    """The send checks of the policy room, built on the given storage."""
    policy = PolicyService(storage, settings, clock, Spool(storage.spool))
    domains = SenderDomainService(
        storage, settings, clock, DkimKeyService(storage, clock, secret_key)
    )
    content = ContentChecks(storage)
    return [policy.check_may_send, domains.check_sender, content.check_before_send]
