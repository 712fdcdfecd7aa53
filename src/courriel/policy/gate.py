"""The checks a campaign passes before it may start sending (`CampaignService.send_checks`).

In order: the tenant is not suspended by the sending policy (both classes of
mail), the From domain is not free webmail and is verified and aligned, and
the content checklist has no blocking item.
"""

from __future__ import annotations

from courriel.campaigns.service import SendCheck
from courriel.policy.checks import ContentChecks
from courriel.policy.domains import SenderDomainService
from courriel.policy.service import PolicyService


def send_checks(
    policy: PolicyService, domains: SenderDomainService, content: ContentChecks
) -> list[SendCheck]:
    """The send checks of the policy room, in the order they are asked."""
    return [policy.check_may_send, domains.check_sender, content.check_before_send]
