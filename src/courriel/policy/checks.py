"""Content checks before a send: a checklist of blocking and warning items.

Blocking items stop a send (and a schedule); warnings are shown in the
checklist (`GET /v1/campaigns/{id}/check`) and left to the sender's judgement.
"""

from __future__ import annotations

import ipaddress
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from courriel.campaigns.access import require_campaign
from courriel.campaigns.models import Campaign, MailClass
from courriel.campaigns.plan import CampaignPlan
from courriel.campaigns.resolution import left_out_by_sunset
from courriel.content.models import Template, TemplateVersion
from courriel.content.service import TemplateService
from courriel.content.variables import has_unsubscribe_link
from courriel.core.clock import Clock, SystemClock
from courriel.core.db import get_or_not_found
from courriel.core.errors import CourrielError, InvalidInputError, NotFoundError
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.policy.checklist import Checklist, Item, Severity
from courriel.policy.links.preferences import LinkCheckPreferences
from courriel.policy.links.service import LinkChecker, LinkReport
from courriel.policy.spamassassin import SpamScorer
from courriel.policy.spamcheck import forbidden_item, sample_message, spamassassin_item

__all__ = [
    "Checklist",
    "ContentChecks",
    "Item",
    "Severity",
    "check_content",
    "check_version",
    "link_items",
]

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
# The From of a template scored before any campaign gives it one.
SAMPLE_SENDER = "sender@example.com"
SPAM_BLOCKING = 6.0


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
    items.append(forbidden_item(version.subject, visible + "\n" + (version.text or "")))
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


def _with(checklist: Checklist, item: Item | None) -> Checklist:
    return Checklist([*checklist.items, item]) if item else checklist


def link_items(reports: list[LinkReport]) -> list[Item]:
    """The link check's items: blocking problems (one line per link), cross-domain redirects."""
    refused = [r for r in reports if r.blocking]
    moved = [r for r in reports if r.problems and not r.blocking]
    return [
        Item(
            "link_check",
            not refused,
            Severity.BLOCKING,
            "\n".join(r.line for r in refused)
            or f"{len(reports)} link(s) fetched: each leads to a page",
            {"problems": [r.as_dict() for r in refused], "checked": len(reports)},
        ),
        Item(
            "link_redirects",
            not moved,
            Severity.WARNING,
            "\n".join(r.line for r in moved) or "no link leaves its domain",
            {"problems": [r.as_dict() for r in moved]},
        ),
    ]


class ContentChecks:
    """The content checklist of the principal's campaigns.

    When the tenant's campaigns are link-checked (setting `link_check_campaigns`
    or the tenant's own choice, `preferences`), every link is also fetched
    (`courriel.policy.links`) and its problems become items of the checklist.
    """

    def __init__(
        self,
        storage: Storage,
        clock: Clock | None = None,
        links: LinkChecker | None = None,
        preferences: LinkCheckPreferences | None = None,
        *,
        templates: TemplateService | None = None,
        scorer: SpamScorer | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock or SystemClock()
        self._links = links
        self._preferences = preferences
        self._templates = templates
        self._scorer = scorer

    def _with_links(
        self, tenant_id: str, version: TemplateVersion, checklist: Checklist
    ) -> Checklist:
        if self._links is None or self._preferences is None:
            return checklist
        if not self._preferences.of_tenant(tenant_id).checks("campaigns"):
            return checklist
        reports = self._links.check_html(tenant_id, version.html or "")
        return Checklist([*checklist.items, *link_items(reports)])

    def _scored(
        self,
        principal: Principal,
        checklist: Checklist,
        version: TemplateVersion,
        sender: tuple[str, str],
        *,
        marketing: bool,
    ) -> Checklist:
        """The checklist with SpamAssassin's item added, when there is a spamd.

        The message is rendered for sample data first, so SpamAssassin reads
        what a recipient reads, not template placeholders.
        """
        if self._scorer is None or self._templates is None or not self._scorer.available():
            return checklist
        try:
            preview = self._templates.preview(
                principal, version.template_id, version=version.version
            )
        except CourrielError as exc:
            item = Item(
                "spamassassin",
                passed=True,
                severity=Severity.WARNING,
                detail=f"not scored: {exc.detail}",
                data={"scored": False},
            )
            return Checklist([*checklist.items, item])
        from_name, from_email = sender
        message = sample_message(
            preview.subject,
            preview.html,
            preview.text,
            from_name or version.sender_name,
            from_email,
            marketing,
        )
        return Checklist([*checklist.items, spamassassin_item(self._scorer, message)])

    def checklist(self, principal: Principal, campaign_id: str) -> Checklist:
        """The checklist of one campaign."""
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            campaign = get_or_not_found(session, Campaign, campaign_id, "campaign")
            require_campaign(session, principal, campaign_id)
            version = session.get(TemplateVersion, campaign.template_version_id)
            sunset = sunset_item(session, campaign, self._clock)
        assert version is not None
        scored = self._scored(
            principal,
            _with(check_content(version, campaign), sunset),
            version,
            (campaign.from_name, campaign.from_email),
            marketing=campaign.mail_class is MailClass.MARKETING,
        )
        return self._with_links(principal.tenant_id, version, scored)

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
        scored = self._scored(
            principal,
            check_version(found, marketing=marketing),
            found,
            (found.sender_name, SAMPLE_SENDER),
            marketing=marketing,
        )
        return self._with_links(principal.tenant_id, found, scored)

    def check_before_send(self, principal: Principal, campaign: Campaign) -> None:
        """A send check: refuse when a blocking item fails, naming each."""
        with self._storage.tenant(principal.tenant_id)() as session:
            version = session.get(TemplateVersion, campaign.template_version_id)
        assert version is not None
        checklist = self._with_links(principal.tenant_id, version, check_content(version, campaign))
        if checklist.blocking:
            # One line per problem: a link check names each bad link on its own line.
            raise InvalidInputError(
                "template",
                "\n".join(
                    f"{i.check}: {line}"
                    for i in checklist.blocking
                    for line in i.detail.split("\n")
                ),
            )
