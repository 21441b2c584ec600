"""The staff page that texts a consultation's results to those who asked ("you said, we did")."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from participate import consultations, followups, sms, store
from participate.consultations import Consultation

from .auth import bp, requires

MAX_SUMMARY = 320  # two GSM-7 segments: a summary, not a report


def _page(
    consultation: Consultation, texts: dict[str, str], errors: dict[str, str], status: int = 200
) -> Any:
    db = store.get_db()
    summaries = list(
        db.query(
            "SELECT sent_by, sent_at, queued, skipped FROM followup_summaries"
            " WHERE consultation_id = ? ORDER BY id DESC",
            [consultation.id],
        )
    )
    return (
        render_template(
            "hub/results_text.html",
            consultation=consultation,
            texts=texts,
            errors=errors,
            measured=sms.measure_results_text({k: v for k, v in texts.items() if v}),
            waiting=followups.count(db, consultation.id),
            summaries=summaries,
            max_summary=MAX_SUMMARY,
        ),
        status,
    )


@bp.route("/c/<consultation_id>/results-text", methods=["GET", "POST"])
@requires("staff")
def results_text(consultation_id: str) -> Any:
    """Write the results summary in each language, preview its cost, and text it."""
    consultation = consultations.get(store.get_db(), consultation_id)
    if request.method == "GET":
        return _page(consultation, {}, {})
    texts = {lang: request.form.get(f"text_{lang}", "").strip() for lang in consultation.languages}
    errors = {
        lang: _("Write the summary in this language.")
        if not text
        else _("At most %(n)d characters.", n=MAX_SUMMARY)
        for lang, text in texts.items()
        if not text or len(text) > MAX_SUMMARY
    }
    if errors or request.form.get("action") != "send":
        return _page(consultation, texts, errors, 422 if errors else 200)
    published = sms.publish_results(current_app, store.get_db(), consultation, texts, g.user.email)
    flash(
        ngettext(
            "The results text is queued for %(num)d number (%(skipped)d opted out).",
            "The results text is queued for %(num)d numbers (%(skipped)d opted out).",
            published.queued,
            skipped=published.skipped,
        )
    )
    return redirect(url_for("hub.results_text", consultation_id=consultation.id), code=303)
