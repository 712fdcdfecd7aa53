"""A tenant's branding: its public pages and its double opt-in confirmations.

People who sign up see the sender, not the platform: the pages they reach
(sign-up form, thank-you, privacy center, unsubscribe) and the confirmation
email carry the tenant's organisation name, logo, colours and footer, in the
languages it offers. The confirmation's subject, body and thank-you text are
short templates the tenant edits per language (issue 19 item 19); they are
rendered in a sandbox with a few named variables only, and the email goes out
from a verified sender domain of the tenant, signed by its DKIM keys.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from courriel.audience.models import Branding
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

ROW = "tenant"
LANGUAGES = ("en", "fr")
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_SUBJECT = 200
MAX_BODY = 5000
MAX_THANKS = 1000
MAX_FOOTER = 1000
# What a confirmation template may use; anything else is refused when saved.
VARIABLES = ("organisation", "list_name", "purpose", "confirm_url")
SAMPLE = {
    "organisation": "Example Ltd",
    "list_name": "Monthly news",
    "purpose": "Our monthly letter",
    "confirm_url": "https://example.test/f/confirm?token=sample",
}


@dataclass(frozen=True)
class Confirmation:
    """The texts of a double opt-in in one language (templates)."""

    subject: str
    body: str
    thanks: str


DEFAULTS = {
    "en": Confirmation(
        subject="Please confirm your subscription to {{ list_name }}",
        body=(
            "Please confirm that you want to receive {{ list_name }}: {{ purpose }}\n\n"
            "Confirm here (the link works for 7 days):\n{{ confirm_url }}\n\n"
            "If you did not ask for this, ignore this message: you will not hear from us."
        ),
        thanks="Thank you: you now receive {{ list_name }}.",
    ),
    "fr": Confirmation(
        subject="Confirmez votre inscription à {{ list_name }}",
        body=(
            "Merci de confirmer que vous souhaitez recevoir {{ list_name }} : {{ purpose }}\n\n"
            "Confirmez ici (le lien est valable 7 jours) :\n{{ confirm_url }}\n\n"
            "Si vous n'avez rien demandé, ignorez ce message : vous ne recevrez rien de notre part."
        ),
        thanks="Merci : vous recevez désormais {{ list_name }}.",
    ),
}
BUTTON = {"en": "Confirm my subscription", "fr": "Confirmer mon inscription"}


@dataclass(frozen=True)
class Brand:
    """The look of the tenant's public pages and emails."""

    organisation: str = ""
    logo_url: str | None = None
    colour: str = "#2456d6"
    background: str = "#f5f6f8"
    footer: str = ""
    languages: tuple[str, ...] = ("en",)
    sender_domain: str | None = None
    confirmations: Mapping[str, Confirmation] = field(default_factory=dict)
    updated_at: dt.datetime | None = None
    # The tenant's privacy contacts ("" : the installation's).
    controller: str = ""
    dpo: str = ""
    complaint: str = ""

    def confirmation(self, language: str | None) -> Confirmation:
        """The texts of `language` (the tenant's own, else the built-in ones)."""
        chosen = language if language in DEFAULTS else self.language(language)
        return self.confirmations.get(chosen) or DEFAULTS[chosen]

    def language(self, wanted: str | None) -> str:
        """The offered language closest to `wanted` (its primary subtag), else the first."""
        primary = (wanted or "").split("-")[0].lower()
        return primary if primary in self.languages else self.languages[0]

    @property
    def logo_origin(self) -> str | None:
        """Where the logo is served from (for a page's image policy)."""
        if not self.logo_url:
            return None
        parts = urlsplit(self.logo_url)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class BrandInput:
    """The look as a form or the API gives it (checked by `BrandingService.set`)."""

    organisation: str = ""
    logo_url: str = ""
    colour: str = "#2456d6"
    background: str = "#f5f6f8"
    footer: str = ""
    languages: Sequence[str] = ("en",)
    sender_domain: str = ""
    controller: str = ""
    dpo: str = ""
    complaint: str = ""


@dataclass(frozen=True)
class RenderedConfirmation:
    """A confirmation email and its thank-you text, rendered."""

    language: str
    subject: str
    text: str
    html: str
    thanks: str


_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def _render(source: str, values: Mapping[str, str], name: str) -> str:
    try:
        return _ENV.from_string(source).render(**values)
    except TemplateSyntaxError as exc:
        raise InvalidInputError(name, f"line {exc.lineno}: {exc.message}") from None
    except UndefinedError as exc:
        allowed = ", ".join(VARIABLES)
        raise InvalidInputError(name, f"{exc.message}; use only {allowed}") from None
    except Exception as exc:  # noqa: BLE001 - any failure of an author's template is input
        raise InvalidInputError(name, str(exc)) from None


def check_colour(value: str, name: str) -> str:
    """`value` as #rrggbb in lower case, or InvalidInputError."""
    clean = value.strip()
    if not COLOUR.fullmatch(clean):
        raise InvalidInputError(name, "must be a colour written #rrggbb, such as #2456d6")
    return clean.lower()


def check_logo(value: str) -> str | None:
    """An https (or http) URL without quotes or spaces, or None for no logo."""
    clean = value.strip()
    if not clean:
        return None
    parts = urlsplit(clean)
    if (
        parts.scheme not in ("https", "http")
        or not parts.netloc
        or len(clean) > 500
        or any(c in clean for c in "\"'<>\\ ;,")
    ):
        raise InvalidInputError("logo_url", "must be an https:// address of an image, or empty")
    return clean


def _text(value: str, name: str, limit: int, required: bool = False) -> str:
    clean = value.strip().replace("\r\n", "\n")
    if len(clean) > limit:
        raise InvalidInputError(name, f"must be at most {limit} characters")
    if required and not clean:
        raise InvalidInputError(name, "must not be empty")
    return clean


def check_confirmation(given: Confirmation) -> Confirmation:
    """The texts cleaned and rendered once with sample values (errors name the field)."""
    subject = _text(given.subject, "subject", MAX_SUBJECT, required=True)
    if "\n" in subject:
        raise InvalidInputError("subject", "must be one line")
    body = _text(given.body, "body", MAX_BODY, required=True)
    thanks = _text(given.thanks, "thanks", MAX_THANKS, required=True)
    _render(subject, SAMPLE, "subject")
    # A confirmation without its link cannot be confirmed.
    if SAMPLE["confirm_url"] not in _render(body, SAMPLE, "body"):
        raise InvalidInputError("body", "must contain {{ confirm_url }}, the link to confirm")
    _render(thanks, SAMPLE, "thanks")
    return Confirmation(subject=subject, body=body, thanks=thanks)


def _paragraphs(text: str, confirm_url: str, button: str, colour: str) -> str:
    parts = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = []
        for line in block.split("\n"):
            if line.strip() == confirm_url:
                lines.append(
                    f'<a href="{html.escape(confirm_url, quote=True)}" style="display:inline-block;'
                    f"background:{colour};color:#ffffff;padding:10px 18px;border-radius:6px;"
                    f'text-decoration:none;font-weight:bold">{html.escape(button)}</a>'
                )
            else:
                lines.append(html.escape(line))
        parts.append(f'<p style="margin:0 0 16px">{"<br>".join(lines)}</p>')
    return "".join(parts)


def email_html(brand: Brand, language: str, text: str, confirm_url: str) -> str:
    """The HTML part of a confirmation: the body's paragraphs in the tenant's look."""
    head = ""
    if brand.logo_url:
        alt = html.escape(brand.organisation or "Logo", quote=True)
        head += (
            f'<img src="{html.escape(brand.logo_url, quote=True)}" alt="{alt}" '
            'style="max-height:48px;max-width:200px;display:block;margin:0 0 12px">'
        )
    if brand.organisation:
        head += (
            f'<div style="font-size:18px;font-weight:bold;color:{brand.colour}">'
            f"{html.escape(brand.organisation)}</div>"
        )
    footer = ""
    if brand.footer:
        footer = (
            '<p style="margin:24px 0 0;font-size:12px;color:#5b6477">'
            f"{html.escape(brand.footer).replace(chr(10), '<br>')}</p>"
        )
    body = _paragraphs(text, confirm_url, BUTTON.get(language, BUTTON["en"]), brand.colour)
    return (
        f'<!doctype html><html lang="{language}"><body style="margin:0;padding:24px;'
        f'background:{brand.background};font-family:Arial,sans-serif;color:#1d2330">'
        '<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;'
        f'padding:24px">{head}<div style="margin-top:16px">{body}</div>{footer}</div>'
        "</body></html>"
    )


def render_confirmation(
    brand: Brand,
    language: str | None,
    *,
    list_name: str,
    purpose: str,
    confirm_url: str,
    texts: Confirmation | None = None,
) -> RenderedConfirmation:
    """The confirmation email of `brand` in `language` (the closest offered one)."""
    chosen = brand.language(language)
    used = texts or brand.confirmation(chosen)
    values = {
        "organisation": brand.organisation,
        "list_name": list_name,
        "purpose": purpose,
        "confirm_url": confirm_url,
    }
    subject = " ".join(_render(used.subject, values, "subject").split())
    text = _render(used.body, values, "body")
    return RenderedConfirmation(
        language=chosen,
        subject=subject,
        text=text,
        html=email_html(brand, chosen, text, confirm_url),
        thanks=_render(used.thanks, values, "thanks"),
    )


def _brand(row: Branding | None) -> Brand:
    if row is None:
        return Brand()
    confirmations = {
        lang: Confirmation(**texts)
        for lang, texts in (row.confirmations or {}).items()
        if lang in LANGUAGES
    }
    return Brand(
        organisation=row.organisation,
        logo_url=row.logo_url,
        colour=row.colour,
        background=row.background,
        footer=row.footer,
        languages=tuple(row.languages) or ("en",),
        sender_domain=row.sender_domain,
        confirmations=confirmations,
        updated_at=row.updated_at,
        controller=row.controller or "",
        dpo=row.dpo or "",
        complaint=row.complaint or "",
    )


# A name and a postal or email address: a few lines.
MAX_CONTACT = 500


def privacy_contacts(session: Session) -> tuple[str, str, str]:
    """The tenant's controller, DPO and complaint route as set ("" where not)."""
    row = session.get(Branding, ROW)
    if row is None:
        return "", "", ""
    return row.controller or "", row.dpo or "", row.complaint or ""


class BrandingService:
    """Read and change a tenant's branding; the public side reads it by tenant."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        verified_domains: Callable[[str], Sequence[str]] = lambda _tenant: (),
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._verified = verified_domains

    def get(self, principal: Principal) -> Brand:
        """The tenant's branding (the defaults when never set)."""
        principal.require(Capability.LISTS_READ)
        return self.of_tenant(principal.tenant_id)

    def of_tenant(self, tenant_id: str) -> Brand:
        """The branding shown to the public for `tenant_id`."""
        with self._storage.tenant(tenant_id)() as session:
            return _brand(session.get(Branding, ROW))

    def verified_domains(self, principal: Principal) -> list[str]:
        """The tenant's verified sender domains (a confirmation may come from one)."""
        principal.require(Capability.LISTS_READ)
        return list(self._verified(principal.tenant_id))

    def sender_domain(self, tenant_id: str, brand: Brand) -> str | None:
        """The chosen sender domain while it is still verified, else None."""
        chosen = brand.sender_domain
        return chosen if chosen and chosen in self._verified(tenant_id) else None

    def set(self, principal: Principal, given: BrandInput) -> Brand:
        """Replace the look (not the confirmation texts); InvalidInputError names a field."""
        principal.require(Capability.LISTS_WRITE)
        organisation = _text(given.organisation, "organisation", 200)
        if "\n" in organisation:
            raise InvalidInputError("organisation", "must be one line")
        languages = [lang for lang in given.languages if lang]
        unknown = [lang for lang in languages if lang not in LANGUAGES]
        if unknown:
            raise InvalidInputError("languages", f"unknown language {unknown[0]!r}")
        if not languages:
            raise InvalidInputError("languages", "offer at least one language")
        domain = given.sender_domain.strip().lower() or None
        if domain is not None and domain not in self._verified(principal.tenant_id):
            raise InvalidInputError("sender_domain", "must be one of your verified domains")
        values = {
            "organisation": organisation,
            "logo_url": check_logo(given.logo_url),
            "colour": check_colour(given.colour, "colour"),
            "background": check_colour(given.background, "background"),
            "footer": _text(given.footer, "footer", MAX_FOOTER),
            "languages": list(dict.fromkeys(languages)),
            "sender_domain": domain,
            "controller": _text(given.controller, "controller", MAX_CONTACT),
            "dpo": _text(given.dpo, "dpo", MAX_CONTACT),
            "complaint": _text(given.complaint, "complaint", MAX_CONTACT),
        }
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = self._row(session)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = self._clock.now()
            return _brand(row)

    def set_confirmation(self, principal: Principal, language: str, given: Confirmation) -> Brand:
        """Replace the confirmation texts of `language` (checked by rendering them once)."""
        principal.require(Capability.LISTS_WRITE)
        if language not in LANGUAGES:
            raise InvalidInputError("language", f"must be one of {', '.join(LANGUAGES)}")
        clean = check_confirmation(given)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = self._row(session)
            texts = dict(row.confirmations or {})
            texts[language] = {"subject": clean.subject, "body": clean.body, "thanks": clean.thanks}
            row.confirmations = texts
            row.updated_at = self._clock.now()
            return _brand(row)

    def reset_confirmation(self, principal: Principal, language: str) -> Brand:
        """Go back to the built-in texts of `language`."""
        principal.require(Capability.LISTS_WRITE)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = self._row(session)
            row.confirmations = {
                k: v for k, v in (row.confirmations or {}).items() if k != language
            }
            row.updated_at = self._clock.now()
            return _brand(row)

    def preview(
        self, principal: Principal, language: str, given: Confirmation | None = None
    ) -> RenderedConfirmation:
        """The confirmation of `language` with sample values (`given`: unsaved texts)."""
        brand = self.get(principal)
        if language not in LANGUAGES:
            raise InvalidInputError("language", f"must be one of {', '.join(LANGUAGES)}")
        texts = check_confirmation(given) if given is not None else None
        # Preview what the person would get even when the language is not offered yet.
        offered = replace(brand, languages=(language, *brand.languages))
        sample = {k: v for k, v in SAMPLE.items() if k != "organisation"}
        return render_confirmation(offered, language, texts=texts, **sample)

    def _row(self, session: Any) -> Branding:
        row: Branding | None = session.get(Branding, ROW)
        if row is None:
            default = Brand()
            row = Branding(
                id=ROW,
                organisation="",
                logo_url=None,
                colour=default.colour,
                background=default.background,
                footer="",
                languages=list(default.languages),
                sender_domain=None,
                confirmations={},
                updated_at=self._clock.now(),
            )
            session.add(row)
        return row
