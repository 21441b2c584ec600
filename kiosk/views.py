"""The kiosk's pages: welcome, one question a screen, review, thank-you, and the resets.

Every page is a plain form that works without JavaScript. The visit lives server-side
(`kiosk.visits`); the page carries only its random token, in a cookie for the pages it
shows and in a hidden field for the forms it posts. A token that no longer names a live
visit (reset, expired, submitted and finished) silently sends the screen back to the
welcome page: a screen left idle never shows a visitor an error.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils
from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, gettext
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.exceptions import NotFound as PageNotFound

from participate import clock, consultations, followups, group_commit, settings, store
from participate.answers import from_form
from participate.consultations import Consultation, Question, localize
from participate.errors import AnswerError, AnswersError, InvalidPhone, NotFound

from . import assets, display, visits
from .errors import ConsultationClosed, NotAsked, UnknownQuestion, VisitGone
from .visits import Visit

bp = Blueprint("kiosk", __name__)
log = logging.getLogger(__name__)

COOKIE = "kiosk_visit"
# Extra seconds the server waits beyond the page's own idle reset before it expires a
# visit, so a page whose script is running always resets first.
EXPIRY_GRACE_SECONDS = 15
NO_STORE_HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
        " form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


# --- helpers -----------------------------------------------------------------------


def max_idle_seconds() -> float:
    """Return how long a visit may go untouched before the server forgets it."""
    config = current_app.config
    return (
        float(config["KIOSK_IDLE_SECONDS"])
        + float(config["KIOSK_WARNING_SECONDS"])
        + EXPIRY_GRACE_SECONDS
    )


def ui_language(language: str | None) -> str:
    """Return `language` if the interface speaks it, else the default interface language."""
    languages = list(current_app.config["LANGUAGES"])
    return language if language in languages else default_language()


def default_language() -> str:
    """Return the language a screen opens in when nobody has chosen one yet.

    The first of `LANGUAGES` when it was set; left unset, the first language (the
    interface speaks) of the first open consultation, so a French-first consultation
    greets people in French without anyone having to configure it.
    """
    languages = list(current_app.config["LANGUAGES"])
    # create_app copies the defaults in by reference: the very same list means unset.
    if current_app.config["LANGUAGES"] is not settings.DEFAULTS["LANGUAGES"]:
        return languages[0]
    now = clock.local_now(current_app.config["TIMEZONE"])
    for consultation in consultations.open_now(store.get_db(), now)[:1]:
        for language in consultation.languages:
            if language in languages:
                return language
    return languages[0]


def _text_size(value: str | None) -> str:
    return value if value in visits.TEXT_SIZES else "normal"


def _apply_text_size(visit: Visit, *, flip: bool) -> None:
    """Keep the text size the form shows (its `size` field), switched over if `flip`."""
    size = request.form.get("size")
    size = size if size in visits.TEXT_SIZES else visit.text_size
    if flip:
        size = "normal" if size == "large" else "large"
    if size != visit.text_size:
        visits.set_text_size(store.get_db(), visit, size)


def _back_path() -> str:
    """Return the form's `back` path if it is a path on this site, else the review's."""
    back = request.form.get("back", "")
    parts = urlsplit(back)
    if not back.startswith("/") or back.startswith("//") or parts.scheme or parts.netloc:
        return url_for("kiosk.review")
    return back


def _visit_from_cookie() -> Visit:
    return visits.load(
        store.get_db(), request.cookies.get(COOKIE), max_idle_seconds=max_idle_seconds()
    )


def _visit_from_form(*, touch: bool = True) -> Visit:
    return visits.load(
        store.get_db(),
        request.form.get("visit"),
        max_idle_seconds=max_idle_seconds(),
        touch=touch,
    )


def _consultation(visit: Visit) -> Consultation:
    return consultations.get(store.get_db(), visit.consultation_id, visit.consultation_version)


def _question_at(consultation: Consultation, number: int) -> Question:
    if not 1 <= number <= len(consultation.questions):
        raise UnknownQuestion(f"this consultation has no question {number}")
    return consultation.questions[number - 1]


def _read_answer(question: Question, values: list[str]) -> Any:
    """Return the typed answer a form gives `question`; several values only for a multi."""
    # A page shows one field for these types: more than one value is a forged form, and
    # keeping one of them would store something the visitor never chose.
    if question.type != "multi" and len(values) > 1:
        raise AnswerError("wrong_type", "takes a single answer", question=question.id)
    return from_form(question, values)


def _see_other(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)


def render(template: str, *, language: str, status: int = 200, **context: Any) -> Any:
    """Render a kiosk page in `language` (the interface's, falling back to its default);
    `context` may also replace what every page gets (the staff's preview does)."""
    config = current_app.config
    lang = ui_language(language)
    page = {
        "lang": lang,
        "content_lang": language,
        "idle_seconds": int(config["KIOSK_IDLE_SECONDS"]),
        "warning_seconds": int(config["KIOSK_WARNING_SECONDS"]),
        "display": display,
        "localize": localize,
        "asset_url": asset_url,
        "status": status,
    }
    with force_locale(lang):
        html = render_template(template, **(page | context))
    return html, status


# --- headers and errors ---------------------------------------------------------------


@bp.after_request
def _no_store(response: Response) -> Response:
    # A kiosk page may hold a visitor's answers: never keep it in any cache, so Back
    # after a reset asks the server, which no longer knows the visit. Its static files
    # hold nothing of anyone and are named by their content: those are kept.
    response.headers.update(SECURITY_HEADERS)
    if request.endpoint not in ASSET_ENDPOINTS:
        response.headers.update(NO_STORE_HEADERS)
    return response


@bp.errorhandler(VisitGone)
def _restart(error: VisitGone) -> Any:
    if request.path == url_for("kiosk.keepalive"):
        response = Response(status=410)
    else:
        response = _see_other("kiosk.welcome")
    response.delete_cookie(COOKIE, path="/")
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    return _error_page(error.code or 500, error.description or "")


@bp.app_errorhandler(PageNotFound)
def _page_not_found(error: PageNotFound) -> Any:
    # An address no route knows (the blueprint's own handler never sees those): a kiosk
    # page in the screen's language rather than the framework's English "Not Found".
    if not request.accept_mimetypes.accept_html:
        return error.get_response()
    return _error_page(404, error.description or "")


@bp.errorhandler(UnknownQuestion)
def _unknown_question(error: UnknownQuestion) -> Any:
    return _error_page(404, str(error))


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> Any:
    return _error_page(404, str(error))


@bp.errorhandler(ConsultationClosed)
def _closed(error: ConsultationClosed) -> Any:
    if not error.during_visit:
        return _error_page(409, str(error), reason="closed")
    # Closed while the visitor answered: their answers can never be sent, so the visit
    # ends here (nothing of theirs stays on the node) and the page says why, kindly.
    db = store.get_db()
    token = request.form.get("visit")
    language = visits.language_of(db, token)
    visits.end(db, token)
    html, status = _error_page(409, str(error), reason="closed_during_visit", language=language)
    response = Response(html, status)
    response.delete_cookie(COOKIE, path="/")
    return response


@bp.errorhandler(NotAsked)
def _not_asked(error: NotAsked) -> Any:
    return _error_page(409, str(error), reason="not_asked")


def _error_page(status: int, detail: str, *, reason: str = "", language: str | None = None) -> Any:
    # The reason goes to the log, for the installer; the visitor reads plain words only.
    log.info(
        "kiosk.refused",
        extra={"status": status, "path": request.path, "detail": detail, "reason": reason},
    )
    # The visit's language if there is one, else the one the address names (the welcome
    # screen's forms carry it there); never the form, whose reading may be the error.
    language = language or visits.language_of(store.get_db(), request.cookies.get(COOKIE))
    language = language or request.args.get("lang")
    return render("kiosk/error.html", language=ui_language(language), status=status, reason=reason)


# --- static files ------------------------------------------------------------------------

ASSET_ENDPOINTS = ("kiosk.asset", "kiosk.favicon")
FAVICON = "kiosk/favicon.svg"


def asset_url(filename: str) -> str:
    """Return the address of a kiosk file that names its content (cached for a year)."""
    asset = assets.load(filename)
    if asset is None:
        raise LookupError(f"no kiosk file {filename!r}")
    return url_for("kiosk.asset", digest=asset.digest, filename=filename)


def _send(asset: assets.Asset, cache_control: str) -> Response:
    compressed = asset.gzipped is not None and "gzip" in request.accept_encodings
    response = Response(asset.gzipped if compressed else asset.body, mimetype=asset.mimetype)
    if compressed:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Cache-Control"] = cache_control
    response.headers["Vary"] = "Accept-Encoding"
    # One tag per representation: the gzipped bytes are not the plain ones.
    response.set_etag(asset.digest + ("-gzip" if compressed else ""))
    return response.make_conditional(request)


@bp.get("/assets/<digest>/<path:filename>")
def asset(digest: str, filename: str) -> Any:
    """Send a kiosk file by its content's address; an old address is simply not found."""
    found = assets.load(filename)
    if found is None or found.digest != digest:
        raise PageNotFound(f"no kiosk file {filename!r} with digest {digest!r}")
    return _send(found, assets.CACHE_CONTROL)


@bp.get("/favicon.ico")
def favicon() -> Any:
    """Send the kiosk's icon to browsers that ask the old address (a day's cache)."""
    found = assets.load(FAVICON)
    if found is None:
        raise PageNotFound("no favicon")
    return _send(found, "public, max-age=86400")


# --- welcome and start -----------------------------------------------------------------


@bp.get("/")
def welcome() -> Any:
    """Show the open consultations and the language choice; end any visit this screen had."""
    db = store.get_db()
    visits.end(db, request.cookies.get(COOKIE))
    language = ui_language(request.args.get("lang"))
    size = _text_size(request.args.get("size"))
    # To the minute, in the organisation's time zone: a consultation closing at 17:00
    # leaves the list at 17:00, whether or not the hub can be reached.
    now = clock.local_now(current_app.config["TIMEZONE"])
    html, status = render(
        "kiosk/welcome.html",
        language=language,
        text_size=size,
        consultations=consultations.open_now(db, now),
        languages=list(current_app.config["LANGUAGES"]),
        invitations=_invitations(language),
    )
    response = Response(html, status)
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/")
    return response


def _invitations(language: str) -> list[dict[str, str]]:
    """Return the attract screen's words in every interface language, `language` first."""
    languages = list(current_app.config["LANGUAGES"])
    ordered = [language, *(code for code in languages if code != language)]
    invitations = []
    for code in ordered:
        with force_locale(code):
            invitations.append(
                {
                    "lang": code,
                    "title": gettext("Have your say"),
                    "hint": gettext("Touch the screen to begin"),
                }
            )
    return invitations


@bp.post("/start")
def start() -> Any:
    """Begin a visit of the chosen consultation and show its first question."""
    db = store.get_db()
    consultation_id = request.form.get("consultation", "")
    consultation = consultations.get(db, consultation_id)
    now = clock.local_now(current_app.config["TIMEZONE"])
    if not consultations.is_accepting(db, consultation, now):
        raise ConsultationClosed(f"consultation {consultation_id!r} is closed")
    visits.end(db, request.cookies.get(COOKIE))
    visit = visits.start(
        db,
        consultation,
        language=request.form.get("lang") or ui_language(None),
        text_size=_text_size(request.form.get("size")),
    )
    response = _see_other("kiosk.question", number=1)
    response.set_cookie(COOKIE, visit.token, httponly=True, samesite="Strict", path="/")
    return response


# --- one question a screen ----------------------------------------------------------------


def _number_of(consultation: Consultation, question: Question) -> int:
    """Return a question's place in its consultation: the number its screen's address uses."""
    return consultation.questions.index(question) + 1


def _is_asked(visit: Visit, consultation: Consultation, question: Question) -> bool:
    """Say whether the visit's answers so far put this question to the visitor.

    A rule looks only at earlier questions, so the answers kept for them settle it.
    """
    return question in consultation.asked(visit.answers)


def _progress(visit: Visit, consultation: Consultation, question: Question) -> tuple[int, int]:
    """Return the question's place among those asked, and how many may be asked in all.

    The questions before this one are reached; one hanging on this one or a later one
    counts as maybe asked, so the total only shrinks as answers come in.
    """
    number = _number_of(consultation, question)
    reached = [q.id for q in consultation.questions[: number - 1]]
    showing = consultation.asked(visit.answers, reached=reached)
    return showing.index(question) + 1, len(showing)


def _next_asked(visit: Visit, consultation: Consultation, number: int) -> int | None:
    """Return the number of the first question asked after question `number`, or None."""
    following = consultation.next_asked(visit.answers, number - 1)
    return None if following is None else following + 1


def _previous_asked(visit: Visit, consultation: Consultation, number: int) -> int | None:
    """Return the number of the last question asked before question `number`, or None."""
    earlier = [
        _number_of(consultation, question)
        for question in consultation.asked(visit.answers)
        if _number_of(consultation, question) < number
    ]
    return earlier[-1] if earlier else None


def _render_question(
    visit: Visit,
    consultation: Consultation,
    number: int,
    *,
    values: list[str] | None = None,
    error: AnswerError | None = None,
) -> Any:
    question = _question_at(consultation, number)
    if values is None:
        values = display.form_values(question, visit.answers.get(question.id))
    place, total = _progress(visit, consultation, question)
    return render(
        "kiosk/question.html",
        language=visit.language,
        status=422 if error else 200,
        visit=visit,
        consultation=consultation,
        question=question,
        number=number,
        place=place,
        total=total,
        values=values,
        error=error,  # put in words by the template, in the visit's language
        keyboard=current_app.config["KIOSK_ONSCREEN_KEYBOARD"],
        from_review=_from_review(),
        text_size=visit.text_size,
    )


@bp.get("/question/<int:number>")
def question(number: int) -> Any:
    """Show one question of the visit, with the answer given so far.

    A question the visitor's answers skip is never shown: its address (the browser's
    history, say) leads on to the next question asked, or to the review.
    """
    visit = _visit_from_cookie()
    if visit.submitted:
        return _see_other("kiosk.thanks")
    consultation = _consultation(visit)
    if not _is_asked(visit, consultation, _question_at(consultation, number)):
        following = None if _from_review() else _next_asked(visit, consultation, number)
        if following is None:
            return _see_other("kiosk.review")
        return _see_other("kiosk.question", number=following)
    return _render_question(visit, consultation, number)


def _posted_question(visit: Visit, consultation: Consultation, number: int) -> Question:
    """Return question `number`, refusing a form that says it answers another one, or
    answers a question the visit's answers skip."""
    question = _question_at(consultation, number)
    posted_id = request.form.get("question")
    if posted_id is None:
        raise BadRequest("the form does not say which question it answers")
    if posted_id != question.id:
        raise UnknownQuestion(f"question {posted_id[:64]!r} is not question {number}")
    if not _is_asked(visit, consultation, question):
        raise NotAsked(f"question {question.id!r} is not asked after the answers given")
    return question


def _from_review() -> bool:
    """Say whether this question was opened from the review screen (its Change links)."""
    return request.values.get("review") == "1"


def _after_answer(action: str, visit: Visit, consultation: Consultation, number: int) -> Response:
    """Carry out the button the visitor pressed once the answer is kept: where to go next.

    Next and Back go to the next and the previous question asked, after the answers
    kept so far: a question the visitor's answers skip is passed over.
    """
    db = store.get_db()
    review = 1 if _from_review() else None
    if action in ("back", "next") and review:
        return _see_other("kiosk.review")  # a change made from the review returns to it
    if action == "back":
        previous = _previous_asked(visit, consultation, number)
        if previous is None:
            visits.end(db, visit.token)
            return _see_other("kiosk.welcome", lang=visit.language)
        return _see_other("kiosk.question", number=previous)
    if action.startswith("language:"):
        visits.set_language(db, visit, consultation, action.removeprefix("language:"))
        return _see_other("kiosk.question", number=number, review=review)
    if action == "text-size":
        return _see_other("kiosk.question", number=number, review=review)
    following = _next_asked(visit, consultation, number)
    if following is not None:
        return _see_other("kiosk.question", number=following)
    return _see_other("kiosk.review")


@bp.post("/question/<int:number>")
def answer(number: int) -> Any:
    """Keep the answer to one question, then go on, go back, or show what is wrong."""
    visit = _visit_from_form()
    if visit.submitted:
        return _see_other("kiosk.thanks")
    consultation = _consultation(visit)
    question = _posted_question(visit, consultation, number)
    action = request.form.get("action", "next")
    values = request.form.getlist("answer")
    _apply_text_size(visit, flip=action == "text-size")
    try:
        value = _read_answer(question, values)
    except AnswerError as error:
        if action == "next":
            return _render_question(visit, consultation, number, values=values, error=error)
        # Going back, resizing or changing language keeps only a valid answer.
    else:
        visits.set_answer(store.get_db(), visit, consultation, question.id, value)
    return _after_answer(action, visit, consultation, number)


# --- review, submit, thanks ---------------------------------------------------------------


def _render_review(visit: Visit, consultation: Consultation, errors: dict | None = None) -> Any:
    # Only the questions the answers put to the visitor, numbered as they were shown.
    asked = [(_number_of(consultation, q), q) for q in consultation.asked(visit.answers)]
    return render(
        "kiosk/review.html",
        language=visit.language,
        status=422 if errors else 200,
        visit=visit,
        consultation=consultation,
        asked=asked,
        missing=[(n, q) for n, q in asked if q.required and q.id not in visit.answers],
        errors=errors or {},
        text_size=visit.text_size,
    )


@bp.get("/review")
def review() -> Any:
    """Show every answer with a way to change it, and the button that sends them."""
    visit = _visit_from_cookie()
    if visit.submitted:
        return _see_other("kiosk.thanks")
    return _render_review(visit, _consultation(visit))


@bp.post("/submit")
def submit() -> Any:
    """Record the visit's answers in the store (once, however often it is sent), then thank."""
    token = request.form.get("visit")
    idle = max_idle_seconds()
    # To the minute: a consultation closing at 17:00 takes no answers sent at 17:00, even
    # on a node that has not heard from its hub for days.
    now = clock.local_now(current_app.config["TIMEZONE"])

    def record(db: sqlite_utils.Database) -> None:
        # Read and write in the writer's own transaction: consistent, and the request
        # needs no connection of its own.
        visit = visits.load(db, token, max_idle_seconds=idle, touch=False)
        if visit.submitted:
            return  # a double tap or a form sent again: already recorded
        consultation = consultations.get(db, visit.consultation_id, visit.consultation_version)
        if not consultations.is_accepting(db, consultation, now):
            raise ConsultationClosed(
                f"consultation {consultation.id!r} closed before this visit was sent",
                during_visit=True,
            )
        visits.submit(db, visit, consultation)

    try:
        # Committed (with whatever other kiosks' submits arrived meanwhile) before the
        # thank-you screen is sent.
        group_commit.writer_for(current_app.config["DATABASE"]).run(record)
    except AnswersError as error:
        visit = _visit_from_form()
        return _render_review(visit, _consultation(visit), error.errors)
    return _see_other("kiosk.thanks")


@bp.get("/thanks")
def thanks() -> Any:
    """Thank the visitor; the page returns to the welcome screen by itself."""
    visit = _visit_from_cookie()
    if not visit.submitted:
        return _see_other("kiosk.review")
    return _render_thanks(visit, texted=request.args.get("texted") == "1")


def _render_thanks(
    visit: Visit, *, texted: bool = False, phone_error: str = "", phone: str = ""
) -> Any:
    consultation = _consultation(visit)
    offer = consultation.results_by_text and not texted
    config = current_app.config
    # Typing a number takes longer than reading the thanks: the idle timer governs then.
    seconds = config["KIOSK_IDLE_SECONDS"] if offer else config["KIOSK_THANKS_SECONDS"]
    return render(
        "kiosk/thanks.html",
        language=visit.language,
        status=422 if phone_error else 200,
        visit=visit,
        consultation=consultation,
        offer=offer,
        texted=texted,
        phone=phone,
        phone_error=phone_error,
        return_seconds=int(seconds),
        text_size=visit.text_size,
    )


@bp.post("/results-by-text")
def results_by_text() -> Any:
    """Keep a typed number, for the results text only, before saying it is kept."""
    visit = _visit_from_form()
    consultation = _consultation(visit)
    if not visit.submitted or not consultation.results_by_text:
        raise BadRequest("this visit cannot ask for the results by text")
    typed = request.form.get("phone", "")[:40]
    try:
        phone = followups.to_e164(typed, current_app.config["SMS_DEFAULT_REGION"])
    except InvalidPhone:
        with force_locale(ui_language(visit.language)):
            error = gettext("This is not a mobile number. Check it and try again.")
        return _render_thanks(visit, phone_error=error, phone=typed)
    with store.write(store.get_db()) as db:
        followups.record(db, consultation.id, phone, visit.language)
    return _see_other("kiosk.thanks", texted=1)


# --- resets and keep-alive -----------------------------------------------------------------


@bp.post("/reset")
def reset() -> Any:
    """Ask before ending the visit; once confirmed, end it and return to the welcome screen.

    A person's Start over keeps their language on the welcome screen; the idle timer's
    reset (`reason=idle`) is for the next visitor, who gets the default one.
    """
    db = store.get_db()
    token = request.form.get("visit")
    if request.form.get("confirmed") != "1":
        visit = _visit_from_form()
        return render(
            "kiosk/start_over.html",
            language=visit.language,
            visit=visit,
            back=_back_path(),
            text_size=visit.text_size,
        )
    language = None if request.form.get("reason") == "idle" else visits.language_of(db, token)
    visits.end(db, token)
    response = _see_other("kiosk.welcome", lang=language)
    response.delete_cookie(COOKIE, path="/")
    return response


@bp.post("/keepalive")
def keepalive() -> Any:
    """Mark the visit as in use (the page's script calls this while someone is touching it)."""
    _visit_from_form()
    return Response(status=204)


@bp.post("/text-size")
def text_size() -> Any:
    """Switch between normal and large text for the rest of the visit."""
    visit = _visit_from_form()
    # The plain form switches over; the page's script says which size it now shows.
    _apply_text_size(visit, flip=request.form.get("action") != "set")
    return redirect(_back_path(), code=303)


@bp.post("/language")
def language() -> Any:
    """Speak another of the consultation's languages for the rest of the visit."""
    visit = _visit_from_form()
    visits.set_language(store.get_db(), visit, _consultation(visit), request.form.get("lang", ""))
    return redirect(_back_path(), code=303)
