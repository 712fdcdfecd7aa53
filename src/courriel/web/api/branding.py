"""HTTP routes of the tenant's branding and double opt-in texts: thin adapters
over `BrandingService` (the same checks as the settings pages)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field

from courriel.audience.branding import Brand, BrandInput, Confirmation, RenderedConfirmation
from courriel.core.schemas import Input
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/branding", tags=["branding"])


class ConfirmationTexts(Input):
    subject: str = Field(
        max_length=1000,
        description="Template; variables: organisation, list_name, purpose, confirm_url",
    )
    body: str = Field(
        max_length=20000, description="Plain-text template; must contain {{ confirm_url }}"
    )
    thanks: str = Field(max_length=5000, description="The thank-you page's text, a template")


class BrandingIn(Input):
    organisation: str = Field(default="", max_length=200)
    logo_url: str = Field(
        default="", max_length=500, description="https:// address; empty: no logo"
    )
    colour: str = Field(default="#2456d6", max_length=20, description="#rrggbb")
    background: str = Field(default="#f5f6f8", max_length=20, description="#rrggbb")
    footer: str = Field(default="", max_length=1000)
    languages: list[str] = Field(default_factory=lambda: ["en"], max_length=10)
    sender_domain: str = Field(
        default="", max_length=255, description="A verified domain; empty: the platform's"
    )
    controller: str = Field(
        default="",
        max_length=500,
        description="Who answers for the contacts' data (GDPR Art. 13(1)(a)); empty: the "
        "installation's",
    )
    dpo: str = Field(default="", max_length=500, description="The data-protection officer")
    complaint: str = Field(
        default="", max_length=500, description="Where to complain (a supervisory authority)"
    )


class BrandingOut(BaseModel):
    organisation: str
    logo_url: str | None
    colour: str
    background: str
    footer: str
    languages: list[str]
    sender_domain: str | None
    confirmations: dict[str, dict[str, str]]
    controller: str
    dpo: str
    complaint: str
    updated_at: dt.datetime | None


class PreviewOut(BaseModel):
    language: str
    subject: str
    text: str
    html: str
    thanks: str


def _out(brand: Brand) -> BrandingOut:
    return BrandingOut(
        organisation=brand.organisation,
        logo_url=brand.logo_url,
        colour=brand.colour,
        background=brand.background,
        footer=brand.footer,
        languages=list(brand.languages),
        sender_domain=brand.sender_domain,
        confirmations={
            lang: {"subject": c.subject, "body": c.body, "thanks": c.thanks}
            for lang, c in brand.confirmations.items()
        },
        controller=brand.controller,
        dpo=brand.dpo,
        complaint=brand.complaint,
        updated_at=brand.updated_at,
    )


def _preview(shown: RenderedConfirmation) -> PreviewOut:
    return PreviewOut(
        language=shown.language,
        subject=shown.subject,
        text=shown.text,
        html=shown.html,
        thanks=shown.thanks,
    )


@router.get("")
def get_branding(services: ServicesDep, principal: PrincipalDep) -> BrandingOut:
    """The look of the public pages and confirmation emails, and the texts set per language."""
    return _out(services.branding.get(principal))


@router.put("")
def set_branding(body: BrandingIn, services: ServicesDep, principal: PrincipalDep) -> BrandingOut:
    """Replace the look (the confirmation texts stay)."""
    given = BrandInput(**body.model_dump())
    return _out(services.branding.set(principal, given))


@router.put("/confirmations/{language}")
def set_confirmation(
    language: str, body: ConfirmationTexts, services: ServicesDep, principal: PrincipalDep
) -> BrandingOut:
    """Replace the double opt-in texts of a language (en, fr); checked by rendering them."""
    given = Confirmation(subject=body.subject, body=body.body, thanks=body.thanks)
    return _out(services.branding.set_confirmation(principal, language, given))


@router.delete("/confirmations/{language}")
def reset_confirmation(
    language: str, services: ServicesDep, principal: PrincipalDep
) -> BrandingOut:
    """Go back to the built-in texts of a language."""
    return _out(services.branding.reset_confirmation(principal, language))


@router.post("/confirmations/{language}/preview")
def preview_confirmation(
    language: str,
    services: ServicesDep,
    principal: PrincipalDep,
    body: ConfirmationTexts | None = None,
) -> PreviewOut:
    """The confirmation with sample values: the saved texts, or those given (not saved)."""
    given = None
    if body is not None:
        given = Confirmation(subject=body.subject, body=body.body, thanks=body.thanks)
    return _preview(services.branding.preview(principal, language, given))
