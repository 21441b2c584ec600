"""The staff page for other systems, `/staff/connections`: API tokens (admins) and webhooks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from participate import consultations, store
from participate.errors import NotFound
from participate.hub import load_user, no_store, requires

from . import tokens, webhooks
from .errors import TokenError, WebhookError

bp = Blueprint("connections", __name__, url_prefix="/staff/connections")
bp.before_request(load_user)  # the staff pages' sign-in, roles and headers
bp.after_request(no_store)


@bp.context_processor
def _language() -> dict[str, Any]:
    return {"current_lang": str(get_locale() or "en")}


def _page(status: int = 200, **extra: Any) -> Any:
    db = store.get_db()
    context = {
        "hooks": webhooks.list_webhooks(db),
        "attempts": webhooks.attempt_log(db, limit=50),
        "consultations": consultations.current_all(db),
        "api_tokens": tokens.list_tokens(db) if g.user.can("admin") else [],
        "uses": tokens.recent_uses(db, limit=20) if g.user.can("admin") else [],
        "token_roles": tokens.ROLES,
        **extra,
    }
    return render_template("api/connections.html", **context), status


@bp.get("")
def connections() -> Any:
    """Show the webhooks with their delivery log, and (to admins) the API tokens."""
    return _page()


@bp.post("/tokens")
@requires("admin")
def token_add() -> Any:
    """Make a token and show it, once."""
    try:
        token, secret = tokens.create_token(
            store.get_db(), request.form.get("name", ""), request.form.get("role", "")
        )
    except TokenError as exc:
        return _page(400, error=str(exc))
    return _page(201, new_token={"name": token.name, "secret": secret})


@bp.post("/tokens/<int:token_id>/revoke")
@requires("admin")
def token_revoke(token_id: int) -> Any:
    """Revoke a token: its next request is refused."""
    if not tokens.revoke(store.get_db(), token_id):
        raise BadRequest(_("There is no such live token."))
    flash(_("Token revoked."))
    return redirect(url_for(".connections"))


@bp.post("/webhooks")
@requires("staff")
def webhook_add() -> Any:
    """Register a URL for a consultation's new submissions and show its secret, once."""
    try:
        hook = webhooks.register(
            store.get_db(),
            request.form.get("consultation", ""),
            request.form.get("url", ""),
            created_by=g.user.email,
        )
    except WebhookError:
        return _page(
            400, error=_("A webhook URL starts with https:// (or http://) and names a host.")
        )
    except NotFound:
        return _page(400, error=_("Choose a consultation."))
    return _page(201, new_hook=hook)


@bp.post("/webhooks/<int:webhook_id>/remove")
@requires("staff")
def webhook_remove(webhook_id: int) -> Any:
    """Stop a webhook; what it still had queued is given up."""
    if not webhooks.remove(store.get_db(), webhook_id):
        raise BadRequest(_("There is no such webhook."))
    flash(_("Webhook removed."))
    return redirect(url_for(".connections"))


@bp.post("/webhooks/<int:webhook_id>/test")
@requires("staff")
def webhook_test(webhook_id: int) -> Any:
    """Send a signed test event now and say what the receiver answered."""
    try:
        answer = webhooks.ping(
            store.get_db(), webhook_id, timeout=float(current_app.config["WEBHOOK_TIMEOUT_SECONDS"])
        )
    except WebhookError:
        raise BadRequest(_("There is no such webhook.")) from None
    if answer.ok:
        flash(_("The test event was delivered (HTTP %(status)s).", status=answer.status))
    elif answer.status is not None:
        flash(_("The receiver refused the test event (HTTP %(status)s).", status=answer.status))
    else:
        flash(_("The test event could not be delivered: %(error)s", error=answer.error))
    return redirect(url_for(".connections"))
