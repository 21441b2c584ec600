"""Staff pages: overview, results with charts, submissions, moderation and exports."""

from __future__ import annotations

import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import sqlite_utils
from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import Markup, escape
from werkzeug.exceptions import BadRequest

from participate import clock, consultations, store
from participate.consultations import Consultation
from participate.errors import NotFound
from participate.submissions import CHANNELS

from . import (
    charts,
    crosstab,
    days,
    export,
    labels,
    moderation,
    quotes,
    report,
    report_pdf,
    results,
)
from .auth import bp, requires
from .errors import FilterError, HubError, ModerationError


@bp.app_template_global()
def staff_url(endpoint: str, **values: Any) -> str:
    """Build a staff URL keeping the page's filters (values given here win)."""
    args = {k: v for k, v in request.args.items() if k not in ("cursor", "dir")}
    args.update({k: v for k, v in values.items() if v is not None})
    return url_for(endpoint, **{k: v for k, v in args.items() if v != ""})


@bp.app_template_filter("local_time")
def local_time(text: str | None, seconds: bool = False) -> str:
    """Show a store time (UTC) in the organisation's time zone, to the minute or second."""
    if not text:
        return ""
    moment = clock.parse(text).astimezone(days.zone(current_app.config["TIMEZONE"]))
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


@bp.app_template_global()
def device_label(device_id: str) -> str:
    """Name a device by its enrolled name (its id when the hub does not know it)."""
    if "device_names" not in g:
        g.device_names = labels.device_names(store.get_db())
    return labels.device_label(device_id, g.device_names)


bp.add_app_template_global(labels.channel_label, "channel_label")
bp.add_app_template_global(labels.language_label, "language_label")
bp.add_app_template_global(labels.short_pseudonym, "short_pseudonym")
bp.add_app_template_global(CHANNELS, "channels")


@bp.app_template_filter("marked")
def marked(text: str | None) -> Markup:
    """Escape a search snippet, then show its highlighted words as <mark>."""
    escaped = str(escape(text or ""))
    # Safe: everything was escaped first; the only markup added is <mark> and </mark>.
    marks = escaped.replace(results.MARK_START, "<mark>").replace(results.MARK_END, "</mark>")
    return Markup(marks)  # noqa: S704


def _consultation(consultation_id: str) -> Consultation:
    try:
        return consultations.get(store.get_db(), consultation_id)
    except NotFound:
        abort(404, _("There is no such consultation."))


def _filters() -> results.Filters:
    try:
        return results.Filters.from_args(request.args, current_app.config["TIMEZONE"])
    except FilterError as exc:
        raise BadRequest(str(exc)) from None


def _language(consultation: Consultation) -> str:
    from flask_babel import get_locale

    return consultation.language(str(get_locale() or ""))


@bp.route("/")
def overview() -> Any:
    """List each consultation with its counts and a chart of responses over time."""
    db = store.get_db()
    everything = results.Filters(timezone=current_app.config["TIMEZONE"])
    closed = results.closed_by_staff(db)
    rows = []
    for consultation in consultations.current_all(db):
        summary = results.overview(db, consultation.id, everything)
        rows.append(
            {
                "consultation": consultation,
                "summary": summary,
                "closed": consultation.id in closed,
                "days": charts.columns(summary.by_day[-60:], height=100),
            }
        )
    now = clock.local_now(current_app.config["TIMEZONE"])
    any_open = any(row["consultation"].is_open(now) and not row["closed"] for row in rows)
    refreshing = any_open and request.args.get("refresh") == "1"
    page = render_template(
        "hub/overview.html",
        rows=rows,
        language=_language,
        any_open=any_open,
        refreshing=refreshing,
    )
    # Only when staff ask for it, with a link to stop (WCAG 2.2.1): the Refresh header,
    # which every browser follows without JavaScript.
    return page, {"Refresh": "60"} if refreshing else {}


@bp.route("/c/<consultation_id>/")
def consultation_results(consultation_id: str) -> Any:
    """Show one consultation's counts and a chart and table for each question."""
    consultation = _consultation(consultation_id)
    filters = _filters()
    db = store.get_db()
    language = _language(consultation)
    text_search = {
        q.id: request.args.get(f"q_{q.id}", "").strip()[:200]
        for q in consultation.questions
        if q.type == "text"
    }
    summary = results.overview(db, consultation.id, filters)
    questions = results.question_results(
        db, consultation, filters, language, text_search=text_search
    )
    table = _crosstab(consultation, filters, language) if request.args.get("xrow") else None
    return render_template(
        "hub/results.html",
        consultation=consultation,
        language=language,
        filters=filters,
        choices=results.filter_choices(db, consultation.id),
        summary=summary,
        days=charts.columns(summary.by_day[-90:]),
        questions=[charts.for_question(_with_texts_described(r), text_search) for r in questions],
        chart=charts,
        rule_text=lambda question: results.rule_text(consultation, question, language),
        base_text=results.base_text,
        dimensions=crosstab.dimensions(consultation, language),
        crosstab=table,
    )


def _with_texts_described(result: results.QuestionResult) -> results.QuestionResult:
    return replace(result, texts=_described(result.texts)) if result.texts else result


def _crosstab(
    consultation: Consultation, filters: results.Filters, language: str
) -> crosstab.CrossTab:
    try:
        return crosstab.crosstab(
            store.get_db(),
            consultation,
            filters,
            request.args.get("xrow", ""),
            request.args.get("xcol", ""),
            language,
        )
    except FilterError as exc:
        raise BadRequest(str(exc)) from None


@bp.route("/c/<consultation_id>/crosstab.csv")
@requires("staff")
def crosstab_download(consultation_id: str) -> Any:
    """Download the cross-tab the results page shows (same filters, same two dimensions)."""
    consultation = _consultation(consultation_id)
    table = _crosstab(consultation, _filters(), _language(consultation))
    name = f"{consultation.id}-{table.rows.key}-by-{table.columns.key}.csv"
    return Response(
        crosstab.to_csv(table).encode("utf-8"),
        mimetype=export.MEDIA_TYPES["csv"],
        headers=_attachment(name),
    )


@bp.route("/c/<consultation_id>/submissions")
def submission_list(consultation_id: str) -> Any:
    """List a consultation's submissions, filtered and searched, a page at a time."""
    consultation = _consultation(consultation_id)
    filters = _filters()
    direction = request.args.get("dir", results.OLDER)
    if direction not in (results.NEWER, results.OLDER):
        raise BadRequest(_("The direction must be newer or older."))
    db = store.get_db()
    try:
        page = results.list_submissions(
            db,
            consultation.id,
            filters,
            cursor=request.args.get("cursor", "")[:500],
            direction=direction,
            size=int(current_app.config["HUB_PAGE_SIZE"]),
        )
    except FilterError as exc:
        raise BadRequest(str(exc)) from None
    return render_template(
        "hub/submissions.html",
        consultation=consultation,
        language=_language(consultation),
        filters=filters,
        choices=results.filter_choices(db, consultation.id),
        page=page,
        rows=_list_rows(db, consultation, page.rows),
    )


def _list_rows(
    db: sqlite_utils.Database, consultation: Consultation, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return what the submissions list shows of each row: `_described`, with the row's
    written answers and whether each is quoted in the report."""
    quoted = quotes.quoted_in(db, [row["id"] for row in rows])
    text_questions = [q.id for q in consultation.questions if q.type == "text"]
    quote_urls = _urls_for_each("hub.quote", "submission_id", [row["id"] for row in rows])
    shown = _described(rows, seconds=True)
    for row, quote_url in zip(shown, quote_urls, strict=True):
        row["quote_url"] = quote_url
        row["texts"] = [
            {
                "question": question,
                "text": row["answers"][question],
                "quoted": (row["id"], question) in quoted,
            }
            for question in text_questions
            if row["answers"].get(question)
        ]
    return shown


def _described(rows: list[dict[str, Any]], *, seconds: bool = False) -> list[dict[str, Any]]:
    """Return each row (a submission, or one answer with its submission's columns) with
    what a list shows of it: its page's address, its local time, and its channel, device
    and language by name.

    Worked out here, not by calls from the template: a list has 50 rows or more, and each
    call from a template costs several in Python.
    """
    channels = {value: labels.channel_label(value) for value in {row["channel"] for row in rows}}
    languages = {value: labels.language_label(value) for value in {row["language"] for row in rows}}
    urls = _urls_for_each("hub.submission_detail", "submission_id", [row["id"] for row in rows])
    return [
        {
            **row,
            "url": url,
            "submitted": local_time(row["submitted_at"], seconds=seconds),
            "channel_label": channels[row["channel"]],
            "device_label": device_label(row["device_id"]) if "device_id" in row else "",
            "language_label": languages[row["language"]],
        }
        for row, url in zip(rows, urls, strict=True)
    ]


def _urls_for_each(endpoint: str, name: str, values: list[str]) -> list[str]:
    """Return url_for(endpoint, name=value) for each value, routing the endpoint once."""
    marker = "__value__"
    built = url_for(endpoint, **{name: marker})
    return [built.replace(marker, urllib.parse.quote(value, safe="")) for value in values]


@bp.route("/submissions/<submission_id>")
def submission_detail(submission_id: str) -> Any:
    """Show one submission, its answers as text, and its moderation history."""
    return _submission_page(submission_id)


def _submission_page(submission_id: str, status: int = 200, error: str | None = None) -> Any:
    db = store.get_db()
    record = results.get_submission(db, submission_id)
    if record is None:
        abort(404, _("There is no such submission."))
    version = consultations.get(db, record["consultation_id"], record["consultation_version"])
    page = render_template(
        "hub/submission.html",
        record=record,
        consultation=version,
        language=_language(version),
        history=moderation.history(db, submission_id),
        neighbours=results.neighbours(db, record),
        error=error,
    )
    return page, status


@bp.route("/submissions/<submission_id>/moderate", methods=["POST"])
@requires("staff")
def moderate(submission_id: str) -> Any:
    """Hide or unhide a submission with a reason."""
    db = store.get_db()
    try:
        changed = moderation.moderate(
            db,
            submission_id,
            request.form.get("action", ""),
            request.form.get("reason", ""),
            g.user.email,
        )
    except ModerationError as exc:
        return _submission_page(submission_id, 400, str(exc))
    if changed:
        hidden = request.form.get("action") == "hide"
        flash(_("The submission is hidden.") if hidden else _("The submission is shown again."))
    return redirect(url_for("hub.submission_detail", submission_id=submission_id))


def _export_plan(consultation_id: str) -> export.ExportPlan:
    consultation = _consultation(consultation_id)
    language = request.args.get("label_language") or None
    options = export.ExportOptions(
        filters=_filters(),
        labels=request.args.get("labels", "") in ("1", "on", "true"),
        language=language,
    )
    try:
        return export.plan_export(store.get_db(), consultation.id, options)
    except HubError as exc:
        raise BadRequest(str(exc)) from None


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@bp.route("/c/<consultation_id>/export.<fmt>")
@requires("staff")
def export_download(consultation_id: str, fmt: str) -> Any:
    """Stream an export of the filtered submissions as a download."""
    if fmt not in export.FORMATS:
        abort(404)
    plan = _export_plan(consultation_id)
    if fmt == "xlsx":
        return _xlsx_response(plan)
    path = current_app.config["DATABASE"]

    def generate() -> Iterator[bytes]:
        # Its own connection: the stream outlives the request's.
        with store.open_db(path) as db:
            for chunk in export.text_chunks(fmt, db, plan):
                yield chunk.encode("utf-8")

    return Response(
        stream_with_context(generate()),
        mimetype=export.MEDIA_TYPES[fmt],
        headers=_attachment(export.filename(plan, fmt)),
    )


def _xlsx_response(plan: export.ExportPlan) -> Any:
    # An XLSX file is a zip, written whole before it can be read: spool it to disk.
    handle, name = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        export.write_xlsx(store.get_db(), plan, name)
        stream = open(name, "rb")  # noqa: SIM115 (closed by the response)
    finally:
        os.unlink(name)
    return send_file(
        stream,
        mimetype=export.MEDIA_TYPES["xlsx"],
        as_attachment=True,
        download_name=export.filename(plan, "xlsx"),
    )


@bp.route("/c/<consultation_id>/codebook.csv")
@requires("staff")
def codebook_download(consultation_id: str) -> Any:
    """Download the codebook of a CSV export: questions and choices in every language."""
    plan = _export_plan(consultation_id)
    return Response(
        export.codebook_csv(plan).encode("utf-8"),
        mimetype=export.MEDIA_TYPES["csv"],
        headers=_attachment(export.filename(plan, "csv", "codebook")),
    )


@bp.route("/submissions/<submission_id>/quote", methods=["POST"])
@requires("staff")
def quote(submission_id: str) -> Any:
    """Mark or unmark a written answer to be quoted in the report, then go back."""
    back = request.form.get("next", "")
    if not back.startswith("/staff/") or back.startswith("//"):
        back = url_for("hub.submission_detail", submission_id=submission_id)
    try:
        quotes.mark(
            store.get_db(),
            submission_id,
            request.form.get("question", ""),
            request.form.get("action", ""),
            g.user.email,
        )
    except NotFound:
        abort(404, _("There is no such submission."))
    except ModerationError as exc:
        raise BadRequest(str(exc)) from None
    return redirect(back)


def _report(consultation_id: str) -> report.Report:
    from flask_babel import get_locale

    consultation = _consultation(consultation_id)
    both = request.args.get("both", "") in ("1", "on", "true")
    languages = report.report_languages(consultation, str(get_locale() or ""), both)
    return report.build(store.get_db(), consultation, _filters(), languages)


@bp.route("/c/<consultation_id>/report")
def report_page(consultation_id: str) -> Any:
    """Show the consultation report as a print-ready page (the results page's filters)."""
    built = _report(consultation_id)
    charts_by_question = {
        q.id: charts.horizontal_rows(q.rows[built.languages[0]]) for q in built.questions
    }
    return render_template(
        "hub/report.html",
        report=built,
        charts=charts_by_question,
        base_text=report.base_text,
        language=built.languages[0],
        consultation=built.consultation,
    )


@bp.route("/c/<consultation_id>/report.pdf")
def report_download(consultation_id: str) -> Any:
    """Download the consultation report as a PDF, made here (no browser, no network)."""
    built = _report(consultation_id)
    data = report_pdf.render(built, current_app.config["TIMEZONE"])
    name = f"{built.consultation.id}-report.pdf"
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
