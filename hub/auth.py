"""The staff blueprint's sign-in: login and logout views, the current user, role checks.

Every `/staff/` route but login and logout needs a signed-in user; `requires(role)` adds a
minimum role. An anonymous request is sent to the login page (or gets 401 for a POST);
a signed-in user without the role gets 403.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.wrappers import Response

from participate import store

from . import users
from .errors import AccountLocked, LoginFailed
from .throttle import AddressThrottle, client_key

bp = Blueprint("hub", __name__, url_prefix="/staff")
# Logging out needs no live session: one that expired must still reach the login page.
PUBLIC_ENDPOINTS = {"hub.login", "hub.logout"}
SESSION_KEY = "staff_token"
# A client address may fail as many times as this many accounts could before locking.
ADDRESS_ACCOUNTS = 4
log = logging.getLogger(__name__)
# Every failed login takes at least this long (seconds), so the store write that counts
# a known account's failure does not tell it apart from an unknown email.
FAILED_LOGIN_SECONDS = 0.3
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@bp.before_request
def load_user() -> Response | None:
    """Find the signed-in user from the session cookie; send anonymous users to log in."""
    g.user = None
    chosen = request.args.get("lang")
    if chosen in current_app.config["LANGUAGES"]:
        session["lang"] = chosen  # the staff pages stay in the language picked
    token = session.get(SESSION_KEY)
    if token:
        g.user = users.resume_session(
            store.get_db(),
            str(token),
            max_hours=float(current_app.config["HUB_SESSION_HOURS"]),
            idle_minutes=float(current_app.config["HUB_IDLE_MINUTES"]),
        )
        if g.user is None:
            session.pop(SESSION_KEY, None)
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if request.method != "GET":
            raise Unauthorized(_("Log in to do this."))
        return redirect(url_for("hub.login", next=request.full_path.rstrip("?")))
    return None


@bp.after_request
def no_store(response: Response) -> Response:
    """Keep staff pages out of caches and frames, and allow only this site's own assets."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


ROLE_LABELS = {"viewer": _l("viewer"), "staff": _l("staff"), "admin": _l("admin")}


def role_label(role: str) -> str:
    """Return a role's name in the interface language."""
    return str(ROLE_LABELS.get(role, role))


@bp.app_context_processor
def staff_globals() -> dict[str, Any]:
    """Give templates the signed-in user (or None), the roles and their names."""
    names: dict[str, Any] = {
        "staff_user": g.get("user"),
        "staff_roles": users.ROLES,
        "role_label": role_label,
        "staff_timezone": current_app.config["TIMEZONE"],
    }
    if request.blueprint == "hub":
        from flask_babel import get_locale

        names["current_lang"] = str(get_locale() or "en")
    return names


@bp.app_template_global()
def in_language(code: str) -> str:
    """Return a link to this page, its query string kept, in another interface language.

    Only a query string: the browser keeps the path, so the link cannot lead elsewhere.
    """
    args = request.args.copy()
    args["lang"] = code
    return "?" + urlencode(list(args.items(multi=True)))


def requires(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse the view (403) to a user below `role`."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.user is None or not g.user.can(role):
                raise Forbidden(_("Your role does not allow this."))
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _safe_next(target: str | None) -> str:
    """Return `target` if it is a plain path inside the staff pages, else the staff home.

    A control character (CR or LF above all) could never be a link the hub made, and
    would make the Location header invalid: it sends the person home instead.
    """
    if target and not any(unicodedata.category(char) == "Cc" for char in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/staff/"):
            return target
    return url_for("hub.overview")


def address_limit(app: Flask) -> int:
    """Return how many failed sign-ins one client address may make in a lock period.

    Several accounts' worth, so colleagues behind one office address are not shut out
    by one mistyped password, while spraying guesses over many accounts stops early.
    """
    return ADDRESS_ACCOUNTS * int(app.config["HUB_LOGIN_MAX_FAILURES"])


def _throttle() -> AddressThrottle:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    throttle = app.extensions.get("hub_throttle")
    if throttle is None:
        window = 60 * float(app.config["HUB_LOGIN_LOCK_MINUTES"])
        throttle = app.extensions.setdefault(
            "hub_throttle", AddressThrottle(address_limit(app), window)
        )
    return throttle


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form, or check it and start a session."""
    if request.method == "GET":
        if g.user is not None:
            return redirect(url_for("hub.overview"))
        return render_template("hub/login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")[:1024]
    next_url = request.form.get("next", "")
    address = client_key(request.remote_addr or "")
    wait = _throttle().wait(address)
    if wait:
        error = _("Too many failed sign-ins from this network. Try again in a few minutes.")
        page, status = _login_failed(error, email, next_url, 429)
        return page, status, {"Retry-After": str(math.ceil(wait))}
    config = current_app.config
    db = store.get_db()
    started = time.monotonic()
    try:
        user = users.authenticate(
            db,
            email,
            password,
            max_failures=int(config["HUB_LOGIN_MAX_FAILURES"]),
            lock_minutes=int(config["HUB_LOGIN_LOCK_MINUTES"]),
        )
    except LoginFailed as exc:
        # One answer for every failure (unknown email, wrong password, locked or
        # disabled account), so the form cannot be used to find which accounts exist.
        _throttle().failed(address)
        _pad(started)
        locked = isinstance(exc, AccountLocked)
        log.info("staff login failed%s from %s", " (account locked)" if locked else "", address)
        error = _(
            "Wrong email or password. After %(n)d failed attempts an account is locked"
            " for %(minutes)d minutes.",
            n=int(config["HUB_LOGIN_MAX_FAILURES"]),
            minutes=int(config["HUB_LOGIN_LOCK_MINUTES"]),
        )
        return _login_failed(error, email, next_url, 401)
    # A fresh session (and CSRF token) on every sign-in, so no earlier cookie carries over;
    # only the language picked on the login page stays.
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session[SESSION_KEY] = users.start_session(db, user)
    return redirect(_safe_next(next_url))


def _pad(started: float) -> None:
    """Sleep until FAILED_LOGIN_SECONDS have passed since `started`."""
    remaining = FAILED_LOGIN_SECONDS - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)


def _login_failed(error: str, email: str, next_url: str, status: int) -> tuple[str, int]:
    page = render_template("hub/login.html", error=error, email=email, next=next_url)
    return page, status


@bp.errorhandler(CSRFError)
def form_expired(error: CSRFError) -> Any:
    """Explain a refused form (no token, or one over an hour old) and offer a fresh one."""
    message = _(
        "This form has expired or did not come from these pages, so nothing was changed."
        " Load the page again and retry."
    )
    if request.endpoint == "hub.login":
        email = request.form.get("email", "")[:254]
        return _login_failed(message, email, request.form.get("next", ""), 400)
    return render_template("hub/form_expired.html", error=message), 400


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End the session on the server and in the browser."""
    token = session.get(SESSION_KEY)
    if token:
        users.end_session(store.get_db(), str(token))
    session.clear()
    return redirect(url_for("hub.login"))
