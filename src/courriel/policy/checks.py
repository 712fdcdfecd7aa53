"""Content checks before a send: a checklist of blocking and warning items.

Blocking items stop a send (and a schedule); warnings are shown in the
checklist (`GET /v1/campaigns/{id}/check`) and left to the sender's judgement.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from courriel.campaigns.access import require_campaign
from courriel.campaigns.models import Campaign, MailClass
from courriel.campaigns.plan import CampaignPlan
from courriel.campaigns.resolution import left_out_by_sunset
from courriel.content.models import Template, TemplateVersion
from courriel.content.variables import has_unsubscribe_link
from courriel.core.clock import Clock, SystemClock
from courriel.core.db import get_or_not_found
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

SUBJECT_MAX = 78  # RFC 5322 §2.1.1's line length; longer subjects are cut by clients.
# Visible text characters expected per image before the balance looks like image spam.
TEXT_PER_IMAGE = 200
SHORTENERS = frozenset(
    {
        "bit.ly",
        "tinyurl.com",
        "t.co",
        "goo.gl",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "rebrand.ly",
        "cutt.ly",
        "shorturl.at",
        "tiny.cc",
        "rb.gy",
    }
)
# Phrases filters weigh against a message, with the points each adds.
SPAMMY: dict[str, float] = {
    "100% free": 2.0,
    "act now": 1.5,
    "buy now": 1.0,
    "cash bonus": 2.0,
    "click here": 1.0,
    "earn extra cash": 2.5,
    "free money": 3.0,
    "guaranteed": 1.0,
    "limited time": 1.0,
    "make money fast": 3.0,
    "no obligation": 1.5,
    "risk-free": 1.5,
    "urgent": 1.0,
    "winner": 1.5,
    "you have been selected": 2.5,
    "viagra": 4.0,
    "$$$": 2.5,
}
SPAM_WARNING = 2.5
SPAM_BLOCKING = 6.0


class Severity(enum.StrEnum):
    """What a failed item does to a send."""

    BLOCKING = "blocking"
    WARNING = "warning"


@dataclass(frozen=True)
class Item:
    """One line of the checklist."""

    check: str
    passed: bool
    severity: Severity
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checklist:
    """Every item; `blocking` are those that stop a send."""

    items: list[Item]

    @property
    def blocking(self) -> list[Item]:
        return [i for i in self.items if not i.passed and i.severity is Severity.BLOCKING]

    @property
    def warnings(self) -> list[Item]:
        return [i for i in self.items if not i.passed and i.severity is Severity.WARNING]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sendable": not self.blocking,
            "items": [asdict(i) for i in self.items],
        }


def sunset_item(session: Any, campaign: Campaign, clock: Clock) -> Item | None:
    """How many contacts the lists' sunset policy leaves out of a marketing campaign.

    Advice, never blocking: leaving them out is the safe default, and the
    plan's `include_sunset` brings them back for a re-engagement campaign.
    """
    if campaign.mail_class is not MailClass.MARKETING:
        return None
    plan = session.get(CampaignPlan, campaign.id)
    left_out = left_out_by_sunset(session, campaign, plan, clock)
    included = plan is not None and plan.include_sunset
    if included:
        detail = (
            f"{left_out} contacts without an open or click in their list's sunset period are "
            "included (this campaign overrides the sunset policy)"
        )
    else:
        detail = (
            f"{left_out} contacts are left out by the sunset policy (no open or click in their "
            "list's sunset period); include them only in a re-engagement campaign"
        )
    return Item(
        "sunset",
        passed=not included or left_out == 0,
        severity=Severity.WARNING,
        detail=detail,
        data={
            "left_out_by_sunset": 0 if included else left_out,
            "sunset_contacts": left_out,
            "include_sunset": included,
        },
    )


class _Html(HTMLParser):
    """Visible text, image count and link targets of an HTML body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.images = 0
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("style", "script", "head", "title"):
            self._hidden += 1
        elif tag == "img":
            self.images += 1
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def _link_problem(href: str) -> str | None:
    target = href.strip()
    if "{{" in target:
        return None  # Our own placeholders (unsubscribe_url, …) are filled at send.
    scheme = target.split(":", 1)[0].lower() if ":" in target else ""
    if scheme in ("javascript", "data", "vbscript"):
        return f"{scheme}: links are refused by mail clients and filters"
    host = (urlsplit(target).hostname or "").lower()
    if not host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"links to a bare IP address ({host}) are a phishing marker"
    if host in SHORTENERS:
        return f"URL shortener {host} hides the destination; filters penalize it"
    return None


def check_content(version: TemplateVersion, campaign: Campaign) -> Checklist:
    """The checklist of a campaign's frozen template version."""
    return check_version(
        version, marketing=campaign.mail_class is MailClass.MARKETING, from_name=campaign.from_name
    )


def check_version(version: TemplateVersion, *, marketing: bool, from_name: str = "") -> Checklist:
    """The checklist of a template version, sent as marketing or transactional mail."""
    page = _Html()
    page.feed(version.html or "")
    visible = " ".join(" ".join(page.text).split())
    items: list[Item] = []
    unsubscribe = has_unsubscribe_link(version)
    items.append(
        Item(
            "unsubscribe_link",
            unsubscribe or not marketing,
            Severity.BLOCKING,
            "present"
            if unsubscribe
            else (
                "not needed: transactional mail"
                if not marketing
                else 'a marketing message needs <a href="{{ unsubscribe_url }}">unsubscribe</a>'
            ),
        )
    )
    named = bool((from_name or version.sender_name or "").strip())
    items.append(
        Item(
            "sender_identification",
            named,
            Severity.WARNING,
            "From carries a name" if named else "From has no display name: say who is writing",
        )
    )
    ratio_ok = page.images == 0 or len(visible) >= TEXT_PER_IMAGE * page.images
    items.append(
        Item(
            "text_image_ratio",
            ratio_ok,
            Severity.BLOCKING if page.images and not visible else Severity.WARNING,
            f"{len(visible)} characters of text for {page.images} image(s)"
            + ("" if ratio_ok else f"; aim for at least {TEXT_PER_IMAGE} per image"),
            {"text_chars": len(visible), "images": page.images},
        )
    )
    items.append(_spam_item(version.subject, visible + " " + (version.text or "")))
    problems = [(href, p) for href in page.links if (p := _link_problem(href))]
    items.append(
        Item(
            "links",
            not problems,
            Severity.BLOCKING,
            "; ".join(f"{href}: {p}" for href, p in problems) or f"{len(page.links)} link(s) fine",
            {"refused": [href for href, _ in problems]},
        )
    )
    subject = version.subject.strip()
    items.append(
        Item(
            "subject_length",
            0 < len(subject) <= SUBJECT_MAX,
            Severity.BLOCKING if not subject else Severity.WARNING,
            "empty subject"
            if not subject
            else f"{len(subject)} characters (keep it within {SUBJECT_MAX})",
            {"length": len(subject)},
        )
    )
    return Checklist(items)


def _spam_item(subject: str, body: str) -> Item:
    lowered = f"{subject} {body}".lower()
    hits = {phrase: points for phrase, points in SPAMMY.items() if phrase in lowered}
    score = sum(hits.values())
    letters = [c for c in subject if c.isalpha()]
    if len(letters) >= 8 and all(c.isupper() for c in letters):
        hits["subject in capitals"] = 1.5
        score += 1.5
    if "!!" in subject:
        hits["repeated exclamation marks"] = 1.0
        score += 1.0
    explanation = ", ".join(f'"{p}" +{v:g}' for p, v in hits.items()) or "no spammy phrase"
    return Item(
        "spammy_phrases",
        score < SPAM_WARNING,
        Severity.BLOCKING if score >= SPAM_BLOCKING else Severity.WARNING,
        f"score {score:g} (warning at {SPAM_WARNING:g}, blocking at {SPAM_BLOCKING:g}): "
        + explanation,
        {"score": score, "phrases": hits},
    )


class ContentChecks:
    """The content checklist of the principal's campaigns."""

    def __init__(self, storage: Storage, clock: Clock | None = None) -> None:
        self._storage = storage
        self._clock = clock or SystemClock()

    def checklist(self, principal: Principal, campaign_id: str) -> Checklist:
        """The checklist of one campaign."""
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            campaign = get_or_not_found(session, Campaign, campaign_id, "campaign")
            require_campaign(session, principal, campaign_id)
            version = session.get(TemplateVersion, campaign.template_version_id)
            sunset = sunset_item(session, campaign, self._clock)
        assert version is not None
        checklist = check_content(version, campaign)
        return Checklist([*checklist.items, sunset]) if sunset else checklist

    def template_checklist(
        self,
        principal: Principal,
        template_id: str,
        version: int | None = None,
        *,
        marketing: bool = True,
    ) -> Checklist:
        """The checklist of a template's current (or a given) version, before any campaign."""
        principal.require(Capability.TEMPLATES_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            template = get_or_not_found(session, Template, template_id, "template")
            found = session.scalar(
                select(TemplateVersion).where(
                    TemplateVersion.template_id == template_id,
                    TemplateVersion.version == (version or template.current_version),
                )
            )
        if found is None:
            raise NotFoundError(f"no version {version} of template {template_id!r}")
        return check_version(found, marketing=marketing)

    def check_before_send(self, principal: Principal, campaign: Campaign) -> None:
        """A send check: refuse when a blocking item fails, naming each."""
        with self._storage.tenant(principal.tenant_id)() as session:
            version = session.get(TemplateVersion, campaign.template_version_id)
        assert version is not None
        blocking = check_content(version, campaign).blocking
        if blocking:
            raise InvalidInputError(
                "template", "; ".join(f"{i.check}: {i.detail}" for i in blocking)
            )
