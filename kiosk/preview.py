"""A kiosk question screen drawn for the staff's preview: the kiosk's own template, in
one language, with nothing to submit (no visit, no forms that go anywhere, no script).

The hub has no kiosk pages, so the links the template makes point nowhere and its files
come from the app's static folder; the page is served by the staff pages, which frame it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

from participate.consultations import Consultation

from .views import render
from .visits import Visit

# What the preview's response allows: this site's styles, no script, no form posts, and
# framing by the staff pages of the same site only.
PREVIEW_CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'none'; object-src 'none';"
    " form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)


# The preview draws a screen of no visit: its forms carry no token.
NO_VISIT = ""


def _nowhere(endpoint: str, **values: Any) -> str:
    """Build static file URLs as usual; every kiosk page's URL is this page itself."""
    if endpoint == "static":
        return url_for(endpoint, **values)
    return "#"


def _static_asset(filename: str) -> str:
    return url_for("static", filename=filename)


def question_screen(consultation: Consultation, number: int, language: str) -> str:
    """Return question `number` (from 1) of `consultation` as the kiosk shows it in `language`."""
    if not 1 <= number <= len(consultation.questions):
        raise IndexError(f"no question {number}")
    visit = Visit(
        token=NO_VISIT,
        submission_id="",
        consultation_id=consultation.id,
        consultation_version=consultation.version,
        language=language,
    )
    html, _status = render(
        "kiosk/question.html",
        language=language,
        asset_url=_static_asset,
        url_for=_nowhere,
        read_aloud=lambda *args, **kwargs: None,
        visit=visit,
        consultation=consultation,
        question=consultation.questions[number - 1],
        number=number,
        # Drawn as if every question were asked: the preview has no answers.
        place=number,
        total=len(consultation.questions),
        values=[],
        error=None,
        keyboard=current_app.config["KIOSK_ONSCREEN_KEYBOARD"],
        from_review=False,
        text_size="normal",
    )
    return html
