"""Every string the application shows is in French too, and the language is chosen
per user, else from the browser."""

from __future__ import annotations

from courriel.web.ui.i18n import negotiate, translations
from tests.support.i18n import marked_strings


def test_every_marked_string_has_a_french_translation() -> None:
    french = translations("fr")
    missing = [
        f"{where}: {text!r}"
        for text, where in marked_strings().items()
        if french.gettext(text) == text and text.lower() not in _SAME_IN_FRENCH
    ]
    assert not missing, "not translated to French:\n" + "\n".join(missing)


# Words spelled alike in both languages.
_SAME_IN_FRENCH = {
    "contacts", "imports", "segments", "suppressions", "webhooks", "pages", "sessions",
    "sandbox", "mjml", "html", "csv", "dkim", "spf", "dmarc", "a/b", "id", "total",
    "email", "type", "source", "date", "description", "options", "message", "messages",
    "notes", "actions", "question", "version", "versions", "variante", "pause",
}  # fmt: skip


def test_the_user_choice_wins_then_the_browser_then_english() -> None:
    assert negotiate("fr", "en-US,en;q=0.9") == "fr"
    assert negotiate("", "fr-CA,fr;q=0.9,en;q=0.5") == "fr"
    assert negotiate("", "de-DE,de;q=0.9") == "en"
    assert negotiate("", "") == "en"
    assert negotiate("xx", "fr") == "fr"
