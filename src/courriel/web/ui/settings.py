"""Settings: the branding of the pages recipients see and of the confirmation
emails, the languages offered, and the double opt-in texts per language with
a preview (issue 19 item 19). The service checks every value; a refused form
comes back with the person's input and the message next to the field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from courriel.audience.branding import (
    LANGUAGES,
    VARIABLES,
    Brand,
    BrandInput,
    Confirmation,
    RenderedConfirmation,
)
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.web.deps import Services, ServicesDep
from courriel.web.ui.i18n import LANGUAGES as NAMES
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep


def _brand_form(brand: Brand) -> dict[str, Any]:
    return {
        "organisation": brand.organisation,
        "logo_url": brand.logo_url or "",
        "colour": brand.colour,
        "background": brand.background,
        "footer": brand.footer,
        "languages": list(brand.languages),
        "sender_domain": brand.sender_domain or "",
        "controller": brand.controller,
        "dpo": brand.dpo,
        "complaint": brand.complaint,
    }


def _branding_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
) -> HTMLResponse:
    brand = services.branding.get(viewer.principal)
    return render(
        request,
        viewer,
        "settings/branding.html",
        422 if errors else 200,
        title=N_("Settings"),
        form=form or _brand_form(brand),
        brand=brand,
        errors=errors or {},
        saved=saved,
        languages=[(code, NAMES.get(code, code)) for code in LANGUAGES],
        domains=services.branding.verified_domains(viewer.principal),
    )


def _confirmation_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    language: str,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    preview: RenderedConfirmation | None = None,
    saved: bool = False,
) -> HTMLResponse:
    if language not in LANGUAGES:
        raise NotFoundError(f"no language {language!r}")
    brand = services.branding.get(viewer.principal)
    texts = brand.confirmation(language)
    shown = form or {"subject": texts.subject, "body": texts.body, "thanks": texts.thanks}
    if preview is None and not errors:
        preview = services.branding.preview(viewer.principal, language)
    return render(
        request,
        viewer,
        "settings/confirmation.html",
        422 if errors else 200,
        title=N_("Confirmation email"),
        edited=language,
        language_name=NAMES.get(language, language),
        languages=[(code, NAMES.get(code, code)) for code in LANGUAGES],
        offered=language in brand.languages,
        own=language in brand.confirmations,
        form=shown,
        errors=errors or {},
        preview=preview,
        saved=saved,
        variables=VARIABLES,
    )


def router() -> APIRouter:
    """The settings pages."""
    pages = APIRouter(prefix="/app/settings", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def branding(
        request: Request, viewer: ViewerDep, services: ServicesDep, saved: bool = False
    ) -> HTMLResponse:
        return _branding_page(request, viewer, services, saved=saved)

    @pages.post("/branding", response_model=None)
    def save_branding(  # noqa: PLR0917 - the form's fields
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        organisation: Annotated[str, Form(max_length=400)] = "",
        logo_url: Annotated[str, Form(max_length=1000)] = "",
        colour: Annotated[str, Form(max_length=40)] = "",
        background: Annotated[str, Form(max_length=40)] = "",
        footer: Annotated[str, Form(max_length=2000)] = "",
        languages: Annotated[list[str] | None, Form(max_length=10)] = None,
        sender_domain: Annotated[str, Form(max_length=255)] = "",
        controller: Annotated[str, Form(max_length=1000)] = "",
        dpo: Annotated[str, Form(max_length=1000)] = "",
        complaint: Annotated[str, Form(max_length=1000)] = "",
    ) -> Response:
        given = BrandInput(
            organisation=organisation,
            logo_url=logo_url,
            colour=colour,
            background=background,
            footer=footer,
            languages=[code[:10] for code in (languages or [])][:10],
            sender_domain=sender_domain,
            controller=controller,
            dpo=dpo,
            complaint=complaint,
        )
        try:
            services.branding.set(viewer.principal, given)
        except InvalidInputError as exc:
            form = {**given.__dict__, "languages": list(given.languages)}
            return _branding_page(
                request, viewer, services, form=form, errors={exc.field: exc.reason}
            )
        return RedirectResponse("/app/settings?saved=true", status_code=303)

    @pages.get("/confirmation/{language}", response_class=HTMLResponse)
    def confirmation(
        request: Request,
        language: str,
        viewer: ViewerDep,
        services: ServicesDep,
        saved: bool = False,
    ) -> HTMLResponse:
        return _confirmation_page(request, viewer, services, language, saved=saved)

    @pages.post("/confirmation/{language}", response_model=None)
    def save_confirmation(  # noqa: PLR0917 - the form's fields
        request: Request,
        language: str,
        viewer: ViewerDep,
        services: ServicesDep,
        subject: Annotated[str, Form(max_length=1000)] = "",
        body: Annotated[str, Form(max_length=20000)] = "",
        thanks: Annotated[str, Form(max_length=5000)] = "",
        action: Annotated[str, Form(max_length=10)] = "save",
    ) -> Response:
        form = {"subject": subject, "body": body, "thanks": thanks}
        given = Confirmation(subject=subject, body=body, thanks=thanks)
        try:
            if action == "preview":
                shown = services.branding.preview(viewer.principal, language, given)
                return _confirmation_page(
                    request, viewer, services, language, form=form, preview=shown
                )
            services.branding.set_confirmation(viewer.principal, language, given)
        except InvalidInputError as exc:
            return _confirmation_page(
                request, viewer, services, language, form=form, errors={exc.field: exc.reason}
            )
        return RedirectResponse(f"/app/settings/confirmation/{language}?saved=true", 303)

    @pages.post("/confirmation/{language}/reset", response_model=None)
    def reset_confirmation(
        language: str, viewer: ViewerDep, services: ServicesDep
    ) -> RedirectResponse:
        if language not in LANGUAGES:
            raise NotFoundError(f"no language {language!r}")
        services.branding.reset_confirmation(viewer.principal, language)
        return RedirectResponse(f"/app/settings/confirmation/{language}?saved=true", 303)

    return pages
