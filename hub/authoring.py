"""Staff pages to author consultations: the list with each one's lifecycle and the kiosk
order, the editor of a draft (both languages side by side), its live preview (the kiosk
screens and the SMS conversation with its cost), publishing, and XLSForm files.

Admin and staff edit; viewers see every page but every post refuses them (403).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest

from participate import clock, consultations, store, xlsform
from participate.consultations import QUESTION_TYPES, Consultation
from participate.errors import ConsultationError, NotFound
from participate.kiosk import PREVIEW_CSP, question_screen
from participate.sms import preview_conversation, total_segments

from . import changes, drafts
from .auth import bp, requires
from .errors import DraftFormError

TYPE_LABELS = {
    "choice": _l("One choice"),
    "multi": _l("Several choices"),
    "scale": _l("Scale"),
    "yesno": _l("Yes or no"),
    "number": _l("Number"),
    "text": _l("Written answer"),
}
STATUS_LABELS = {
    "open": _l("open"),
    "scheduled": _l("scheduled"),
    "ended": _l("closed by its dates"),
    "closed": _l("closed by staff"),
    "archived": _l("archived"),
}
ACTION_LABELS = {
    "publish": _l("published"),
    "close": _l("closed"),
    "reopen": _l("reopened"),
    "archive": _l("archived"),
    "unarchive": _l("brought back"),
    "order": _l("moved in the kiosk order"),
}
LIST_ACTIONS = ("edit", "duplicate", "close", "reopen", "archive", "unarchive", "up", "down")
EDITOR_ACTION = re.compile(
    r"^(save|preview|publish|add|up|down|delete|add-choice|remove-choice)(?::(\d{1,3}))?(?::(\d{1,3}))?$"
)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _now() -> datetime:
    return clock.local_now(current_app.config["TIMEZONE"])


def _by() -> str:
    return str(g.user.email)


# --- the list ------------------------------------------------------------------------


def lifecycle(consultation: Consultation, row: dict[str, Any], now: datetime) -> str:
    """Return where a published consultation is in its life: open, scheduled, ended (its
    dates), closed (by staff) or archived."""
    if row["archived_at"]:
        return "archived"
    if row["closed"]:
        return "closed"
    if consultation.opens_at and now < consultation.opens_at:
        return "scheduled"
    if consultation.closes_at and now >= consultation.closes_at:
        return "ended"
    return "open"


def _list_page(status: int = 200, **extra: Any) -> Any:
    db = store.get_db()
    rows = {row["id"]: row for row in db.query("SELECT id, closed, archived_at FROM consultations")}
    now = _now()
    items = []
    for consultation in consultations.current_all(db):
        row = rows[consultation.id]
        state = lifecycle(consultation, row, now)
        items.append(
            {
                "consultation": consultation,
                "closed": bool(row["closed"]),
                "archived": row["archived_at"] is not None,
                "status": state,
                "status_text": STATUS_LABELS[state],
                "draft": drafts.editing(db, consultation.id),
            }
        )
    page = render_template(
        "hub/authoring.html",
        items=items,
        drafts=[d for d in drafts.all_drafts(db) if d.base_version is None],
        log=changes.recent(db),
        action_labels=ACTION_LABELS,
        **extra,
    )
    return page, status


@bp.route("/authoring/")
def authoring_list() -> Any:
    """List consultations with their lifecycle and kiosk order, and the drafts being written."""
    return _list_page()


@bp.route("/authoring/new", methods=["POST"])
@requires("staff")
def authoring_new() -> Any:
    """Start a new consultation (a draft in English and French) and open its editor."""
    draft = drafts.create(store.get_db(), drafts.blank(), by=_by())
    return redirect(url_for("hub.draft_editor", key=draft.key), 303)


@bp.route("/authoring/import", methods=["POST"])
@requires("staff")
def authoring_import() -> Any:
    """Read an XLSForm (.xlsx) into a new draft and open its editor."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _list_page(400, error=_("Choose a file to import."))
    name = upload.filename.rsplit("/", 1)[-1]
    if not name.lower().endswith(".xlsx"):
        return _list_page(400, error=_("An XLSForm file ends in .xlsx."))
    try:
        data = xlsform.read(upload.read(), name)
    except ConsultationError as exc:
        return _list_page(
            400, error=_("%(file)s was not imported: %(problem)s", file=name, problem=str(exc))
        )
    draft = drafts.create(store.get_db(), drafts.normalize(data), by=_by())
    flash(_("%(file)s is imported as a draft. Check it, then publish it.", file=name))
    return redirect(url_for("hub.draft_editor", key=draft.key), 303)


def _published(consultation_id: str) -> Consultation:
    try:
        return consultations.get(store.get_db(), consultation_id)
    except NotFound:
        abort(404, _("There is no such consultation."))


@bp.route("/authoring/<consultation_id>/xlsform.xlsx")
@requires("staff")
def authoring_xlsform(consultation_id: str) -> Any:
    """Download a published consultation as an XLSForm (.xlsx)."""
    consultation = _published(consultation_id)
    return Response(
        xlsform.write(consultation),
        mimetype=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{consultation.id}.xlsx"'},
    )


@bp.route("/authoring/<consultation_id>/<action>", methods=["POST"])
@requires("staff")
def authoring_action(consultation_id: str, action: str) -> Any:
    """Edit, duplicate, close, reopen, archive, bring back or move a consultation."""
    if action not in LIST_ACTIONS:
        raise BadRequest(_("Unknown action."))
    consultation = _published(consultation_id)
    db = store.get_db()
    if action in ("edit", "duplicate"):
        draft = drafts.editing(db, consultation.id) if action == "edit" else None
        if draft is None:
            data = (
                drafts.normalize(consultation.definition)
                if action == "edit"
                else drafts.copy_of(consultation, drafts.free_id(db, consultation.id))
            )
            base = consultation.version if action == "edit" else None
            draft = drafts.create(db, data, by=_by(), base_version=base)
        return redirect(url_for("hub.draft_editor", key=draft.key), 303)
    with store.write(db):
        if action in ("up", "down"):
            order = [c.id for c in consultations.current_all(db)]
            index = order.index(consultation.id)
            drafts.move(order, index, -1 if action == "up" else 1)
            consultations.set_order(db, order)
            changes.record(db, consultation.id, "order", by=_by())
        elif action in ("close", "reopen"):
            consultations.set_closed(db, consultation.id, action == "close")
            changes.record(db, consultation.id, action, by=_by())
        else:
            consultations.set_archived(db, consultation.id, action == "archive")
            changes.record(db, consultation.id, action, by=_by())
    flash(
        _(
            "%(id)s: %(change)s.",
            id=consultation.id,
            change=ACTION_LABELS["order" if action in ("up", "down") else action],
        )
    )
    return redirect(url_for("hub.authoring_list") + f"#row-{consultation.id}", 303)


# --- the editor ------------------------------------------------------------------------


def _draft(key: str) -> drafts.Draft:
    try:
        return drafts.get(store.get_db(), key)
    except NotFound:
        abort(404, _("There is no such draft."))


def preview(data: dict[str, Any]) -> dict[str, Any]:
    """Return what the preview shows of a draft: the consultation it makes (translations
    still missing borrowed from another language) and its SMS conversation in each
    language, or why it cannot be shown yet."""
    try:
        consultation = consultations.parse(drafts.preview_definition(data), "preview")
    except ConsultationError as exc:
        return {"consultation": None, "problem": exc.detail, "sms": {}}
    sms = {}
    for lang in consultation.languages:
        messages = preview_conversation(consultation, lang)
        least, most = total_segments(messages)
        sms[lang] = {"messages": messages, "least": least, "most": most}
    return {"consultation": consultation, "problem": "", "sms": sms, "rule_answers": rule_answers}


def rule_answers(consultation: Consultation, message: Any, lang: str) -> str:
    """Name, in `lang`, the answers a message's skip rule waits for ("No", "Every week")."""
    rule = message.ask_if
    source = consultation.question(rule.question) if rule else None
    if source is None:
        return ""
    names = []
    for value in rule.values:
        if source.type == "yesno":
            names.append(_("Yes") if value else _("No"))
        elif source.choice(str(value)) is not None:
            names.append(consultations.localize(source.choice(str(value)).text, lang))
        else:
            names.append(str(value))
    return ", ".join(names)


def _editor(draft: drafts.Draft, status: int = 200, error: ConsultationError | None = None) -> Any:
    data = draft.data
    field = drafts.error_field(data, error) if error else ""
    page = render_template(
        "hub/authoring_editor.html",
        draft=draft,
        data=data,
        types=QUESTION_TYPES,
        type_labels=TYPE_LABELS,
        type_fields=drafts.TYPE_FIELDS,
        missing=set(drafts.missing_translations(data)),
        problem=error.detail if error else None,
        error_field=field,
        rule_sources=drafts.rule_sources,
        rule_options=drafts.rule_options,
        preview=preview(data),
        published_since=drafts.published_since(store.get_db(), draft),
        can_edit=g.user.can("staff"),
    )
    return page, status


@bp.route("/drafts/<key>")
def draft_editor(key: str) -> Any:
    """Show a draft in the editor, with its preview beside it."""
    return _editor(_draft(key))


def _apply(data: dict[str, Any], action: str) -> str:
    """Apply an editor button to the draft; return the place of the page to go back to."""
    match = EDITOR_ACTION.match(action)
    if match is None:
        raise DraftFormError("unknown action")
    name, first, second = match.group(1), match.group(2), match.group(3)
    questions = data["questions"]
    if name == "add":
        drafts.new_question(data, request.form.get("new_type", ""))
        return f"#q{len(questions) - 1}"
    if name in ("save", "preview", "publish"):
        return "#preview" if name == "preview" else ""
    if first is None or not int(first) < len(questions):
        raise DraftFormError("the button names no question of this draft")
    index = int(first)
    if name in ("up", "down"):
        drafts.move(questions, index, -1 if name == "up" else 1)
        return f"#q{max(0, min(len(questions) - 1, index + (-1 if name == 'up' else 1)))}"
    if name == "delete":
        del questions[index]
        return "#questions"
    choices = questions[index]["choices"]
    if name == "add-choice":
        drafts.add_choice(questions[index])
        return f"#q{index}-c{len(choices) - 1}-id"
    if second is None or not int(second) < len(choices):
        raise DraftFormError("the button names no choice of this question")
    del choices[int(second)]
    return f"#q{index}-choices"


@bp.route("/drafts/<key>", methods=["POST"])
@requires("staff")
def draft_save(key: str) -> Any:
    """Save the editor's form as typed, then do what its button asks (publishing checks
    the draft first and says what is wrong beside the field at fault)."""
    draft = _draft(key)
    action = request.form.get("action", "save")
    try:
        data = drafts.from_form(request.form)
        place = _apply(data, action)
    except DraftFormError as exc:
        raise BadRequest(_("The form could not be read: %(problem)s.", problem=str(exc))) from None
    db = store.get_db()
    drafts.update(db, key, data, by=_by())
    draft = drafts.get(db, key)
    if action != "publish":
        return redirect(url_for("hub.draft_editor", key=key) + place, 303)
    try:
        loaded = drafts.publish(db, draft, by=_by())
    except ConsultationError as exc:
        return _editor(draft, 422, exc)
    consultation = loaded.consultation
    if loaded.status == "unchanged":
        flash(
            _(
                "%(id)s: nothing changed; version %(version)s stays current.",
                id=consultation.id,
                version=consultation.version,
            )
        )
    else:
        flash(
            _(
                "%(id)s is published: version %(version)s. Nodes receive it at their next sync.",
                id=consultation.id,
                version=consultation.version,
            )
        )
    return redirect(url_for("hub.authoring_list") + f"#row-{consultation.id}", 303)


@bp.route("/drafts/<key>/discard", methods=["POST"])
@requires("staff")
def draft_discard(key: str) -> Any:
    """Forget a draft; what was published from it stays."""
    draft = _draft(key)
    drafts.discard(store.get_db(), draft.key)
    flash(_("The draft is discarded."))
    return redirect(url_for("hub.authoring_list"), 303)


@bp.route("/drafts/<key>/preview", methods=["POST"])
@requires("staff")
def draft_preview(key: str) -> Any:
    """Save the editor's form and return its preview panel (the page's script asks)."""
    draft = _draft(key)
    try:
        data = drafts.from_form(request.form)
    except DraftFormError as exc:
        raise BadRequest(_("The form could not be read: %(problem)s.", problem=str(exc))) from None
    drafts.update(store.get_db(), key, data, by=_by())
    return render_template(
        "hub/authoring_preview.html",
        draft=draft,
        data=data,
        preview=preview(data),
        missing=set(drafts.missing_translations(data)),
    )


@bp.route("/drafts/<key>/kiosk/<lang>/<number>")
def draft_kiosk(key: str, lang: str, number: str) -> Any:
    """Show one question of a draft as the kiosk draws it, in one language (framed by the
    editor's preview; nothing in it can be submitted)."""
    shown = preview(_draft(key).data)["consultation"]
    if shown is None or lang not in shown.languages or not number.isdigit():
        abort(404, _("There is no such screen to preview."))
    if not 1 <= int(number) <= len(shown.questions):
        abort(404, _("There is no such screen to preview."))
    page = question_screen(shown, int(number), lang)
    return page, 200, {"Content-Security-Policy": PREVIEW_CSP}


@bp.route("/drafts/<key>/kiosk")
def draft_kiosk_pick(key: str) -> Any:
    """Send the preview's question and language picker (a form without script) to the screen."""
    # Not "lang": that switches the staff pages' own language.
    lang = request.args.get("language", "")
    number = request.args.get("number", "1")
    return redirect(url_for("hub.draft_kiosk", key=key, lang=lang or "x", number=number or "1"))
