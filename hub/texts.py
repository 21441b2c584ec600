"""The staff SMS page: numbers whose texts went unanswered (the reply budget), and erasure.

Staff see which numbers met the reply budget or the loop guard lately, by pseudonym
only. Admins answer an erasure request by phone number here, as `participate erase`
does; every request is recorded in the privacy log with who made it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound

from participate import clock, privacy, store
from participate.errors import ParticipateError

from .auth import bp, requires

WITHHELD_DAYS = 7


def _people() -> privacy.People:
    people = current_app.extensions.get(privacy.PEOPLE)
    if people is None:
        raise NotFound(_("This hub has no SMS channel."))
    return people


def _page(status: int = 200, **extra: Any) -> Any:
    db = store.get_db()
    now = clock.parse(clock.utcnow())
    return render_template(
        "hub/texts.html",
        withheld=_people().withheld_lately(db, now=now, days=WITHHELD_DAYS),
        withheld_days=WITHHELD_DAYS,
        budget=current_app.config["SMS_REPLY_BUDGET"],
        log=privacy.recent_log(db) if g.user.can("admin") else [],
        **extra,
    ), status


@bp.route("/sms")
@requires("staff")
def texts() -> Any:
    """Show the numbers whose texts went unanswered lately, and (admins) the erasure form."""
    return _page()


@bp.route("/sms/erase", methods=["POST"])
@requires("admin")
def texts_erase() -> Any:
    """Answer an erasure request: erase everything held about a phone number."""
    number = request.form.get("phone", "").strip()[:40]
    if not number:
        return _page(400, error=_("Enter the phone number the person texted from."))
    try:
        done = _people().erase(store.get_db(), number, by=g.user.email)
    except ParticipateError:
        return _page(
            400,
            error=_("%(number)s is not a phone number. Check it and try again.", number=number),
            phone=number,
        )
    if not done.known:
        flash(_("Nothing is held about this number: it never texted us. Nothing changed."))
    else:
        flash(
            _(
                "Erased: %(submissions)d submission(s), %(conversations)d conversation(s),"
                " %(queued)d queued message(s). Nodes erase their copies at their next sync.",
                submissions=done.counts.get("submissions", 0),
                conversations=done.counts.get("conversations", 0),
                queued=done.counts.get("messages_queued", 0),
            )
        )
    return redirect(url_for("hub.texts"), code=303)
