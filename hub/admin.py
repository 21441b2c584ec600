"""Admin pages: staff accounts, devices (the fleet) and consultation files."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest

from participate import clock, consultations, store
from participate.errors import ConsultationError, NotFound
from participate.sync import devices

from . import changes, results, users
from .auth import bp, requires
from .errors import UserError

UPLOAD_SUFFIXES = (".yaml", ".yml", ".json", ".xlsx")


# --- devices -----------------------------------------------------------------------


# The attention flags of participate.devices, in words staff read in their language.
# The channels a device may send answers for, as the devices page names them.
CHANNEL_LABELS = {"kiosk": _l("Kiosk"), "sms": _l("SMS"), "voice": _l("Phone calls")}
ATTENTION_LABELS = {
    "disabled": _l("disabled"),
    "never seen": _l("never seen"),
    "stale": _l("stale: no contact lately"),
    "gaps": _l("ledger gaps"),
    "rejected": _l("submissions rejected"),
    "backed up": _l("backed up"),
    "sync error": _l("sync error"),
    "refused": _l("requests refused"),
    "clock skew": _l("clock skew"),
    "low disk": _l("low disk"),
    "audio missing": _l("audio missing: the kiosk cannot read aloud"),
    "sms gateway": _l("SMS gateway problem"),
}
# What a node's SMS gateway is, in words staff read.
GATEWAY_LABELS = {
    "gammu": _l("GSM modem (gammu-smsd)"),
    "android": _l("Android phone"),
    "twilio": _l("Twilio"),
    "simulator": _l("simulator only"),
}


def _fleet() -> list[dict[str, Any]]:
    config = current_app.config
    fleet = devices.list_devices(
        store.get_db(),
        stale_after=float(config["HUB_STALE_MINUTES"]) * 60,
        backlog_depth=int(config["HUB_BACKLOG_WARN"]),
    )
    for device in fleet:
        device["gaps_text"] = devices.format_gaps(device["gaps"])
        kind = device["gateway"].get("kind", "")
        device["gateway_text"] = str(GATEWAY_LABELS.get(kind, kind))
        device["channels_text"] = ", ".join(
            str(CHANNEL_LABELS.get(channel, channel)) for channel in device["channels"]
        )
        device["attention_text"] = ", ".join(
            str(ATTENTION_LABELS.get(flag, flag)) for flag in device["attention"]
        )
    return fleet


@bp.route("/devices")
def device_list() -> Any:
    """Show each node's health, calling out those that need attention."""
    return render_template("hub/devices.html", devices=_fleet(), now=clock.utcnow())


@bp.route("/devices", methods=["POST"])
@requires("admin")
def device_add() -> Any:
    """Enrol a node and show its secret, once."""
    name = request.form.get("name", "").strip()[:100]
    if not name:
        return _device_page_error(_("Give the device a name."))
    device_id, secret = devices.add_device(store.get_db(), name)
    page = render_template(
        "hub/devices.html",
        devices=_fleet(),
        now=clock.utcnow(),
        enrolled={"id": device_id, "name": name, "secret": secret},
    )
    return page, 201


def _device_page_error(message: str) -> Any:
    page = render_template("hub/devices.html", devices=_fleet(), now=clock.utcnow(), error=message)
    return page, 400


@bp.route("/devices/<device_id>/disable", methods=["GET"])
@requires("admin")
def device_confirm_disable(device_id: str) -> Any:
    """Ask before disabling a device: its syncs are refused until it is enabled again."""
    device = devices.get_device(store.get_db(), device_id)
    if device is None:
        abort(404, _("There is no such device."))
    return render_template("hub/device_disable.html", device=device)


@bp.route("/devices/<device_id>/<action>", methods=["POST"])
@requires("admin")
def device_switch(device_id: str, action: str) -> Any:
    """Disable a device (its requests are refused) or enable it again."""
    if action not in ("disable", "enable"):
        raise BadRequest(_("Unknown action."))
    change = devices.disable_device if action == "disable" else devices.enable_device
    try:
        change(store.get_db(), device_id)
    except NotFound:
        raise BadRequest(_("There is no such device.")) from None
    flash(_("Device disabled.") if action == "disable" else _("Device enabled."))
    return redirect(url_for("hub.device_list"))


# --- users -------------------------------------------------------------------------


@bp.route("/users")
@requires("admin")
def user_list() -> Any:
    """List staff accounts with forms to add, change and disable them."""
    return render_template("hub/users.html", accounts=users.list_users(store.get_db()))


@bp.route("/users", methods=["POST"])
@requires("admin")
def user_add() -> Any:
    """Create a staff account."""
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")[:1024]
    if password != request.form.get("confirm", ""):
        return _users_error(_("The two passwords differ."))
    try:
        users.create_user(store.get_db(), email, password, request.form.get("role", ""))
    except UserError as exc:
        return _users_error(str(exc))
    flash(_("Account created for %(email)s.", email=email))
    return redirect(url_for("hub.user_list"))


def _users_error(message: str) -> Any:
    page = render_template(
        "hub/users.html", accounts=users.list_users(store.get_db()), error=message
    )
    return page, 400


@bp.route("/users/<int:user_id>", methods=["POST"])
@requires("admin")
def user_change(user_id: int) -> Any:
    """Change an account's role, or disable or enable it."""
    db = store.get_db()
    action = request.form.get("action", "")
    try:
        if action == "role":
            users.set_role(db, user_id, request.form.get("role", ""))
        elif action in ("disable", "enable"):
            if action == "disable" and user_id == g.user.id:
                raise UserError(_("You cannot disable your own account."))
            users.set_disabled(db, user_id, action == "disable")
        else:
            raise BadRequest(_("Unknown action."))
    except UserError as exc:
        return _users_error(str(exc))
    flash(_("Account updated."))
    return redirect(url_for("hub.user_list"))


@bp.route("/users/password", methods=["POST"])
@requires("admin")
def user_password() -> Any:
    """Give an account a new password (a forgotten one), ending its sign-ins."""
    password = request.form.get("password", "")[:1024]
    if password != request.form.get("confirm", ""):
        return _users_error(_("The two passwords differ."))
    try:
        user_id = int(request.form.get("user_id", ""))
        users.set_password(store.get_db(), user_id, password)
    except ValueError:
        return _users_error(_("Choose an account."))
    except UserError as exc:
        return _users_error(str(exc))
    flash(_("New password set. The account's sign-ins have ended."))
    return redirect(url_for("hub.user_list"))


# --- consultations -----------------------------------------------------------------


@bp.route("/consultations")
@requires("admin")
def consultation_admin() -> Any:
    """List consultations with forms to upload a file and to close or reopen each."""
    return _consultations_page()


def _consultations_page(status: int = 200, **extra: Any) -> Any:
    db = store.get_db()
    closed = results.closed_by_staff(db)
    items = [{"consultation": c, "closed": c.id in closed} for c in consultations.current_all(db)]
    return render_template("hub/consultations.html", items=items, **extra), status


@bp.route("/consultations", methods=["POST"])
@requires("admin")
def consultation_upload() -> Any:
    """Load a consultation file (YAML, JSON or XLSForm) into the hub, which publishes it."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _consultations_page(400, error=_("Choose a file to upload."))
    name = Path(upload.filename).name
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        return _consultations_page(
            400, error=_("The file must end in .yaml, .yml, .json or .xlsx (XLSForm).")
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        upload.save(path)
        db = store.get_db()
        try:
            parsed = consultations.read_file(path)
            with store.write(db):
                loaded = consultations.save(db, [parsed], source=name)
                if loaded[0].status != "unchanged":
                    changes.record(
                        db, parsed.id, "publish", by=g.user.email, version=parsed.version
                    )
        except ConsultationError as exc:
            message = str(exc).replace(str(path), name)
            return _consultations_page(400, error=message)
    result = loaded[0]
    flash(
        _(
            "%(id)s: %(status)s, version %(version)s.",
            id=result.consultation.id,
            status=result.status,
            version=result.consultation.version,
        )
    )
    return redirect(url_for("hub.consultation_admin"))


@bp.route("/consultations/<consultation_id>/<action>", methods=["POST"])
@requires("admin")
def consultation_switch(consultation_id: str, action: str) -> Any:
    """Close a consultation to new answers, or reopen it."""
    if action not in ("close", "reopen"):
        raise BadRequest(_("Unknown action."))
    db = store.get_db()
    try:
        with store.write(db):
            consultations.set_closed(db, consultation_id, action == "close")
            changes.record(db, consultation_id, action, by=g.user.email)
    except NotFound:
        raise BadRequest(_("There is no such consultation.")) from None
    flash(_("Consultation closed.") if action == "close" else _("Consultation reopened."))
    return redirect(url_for("hub.consultation_admin"))
