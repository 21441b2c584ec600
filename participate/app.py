"""The application factory: settings, store, extensions, and each feature's blueprint."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from participate import (
    __version__,
    api,
    hub,
    kiosk,
    settings,
    sms,
    store,
    sync,
    tallies,
    typography,
    voice,
)
from participate.errors import ConfigError, ParticipateError
from participate.extensions import babel, csrf
from participate.resources import resource_dir

log = logging.getLogger(__name__)

# The feature packages, each exposing `init_app(app)` and, if it has background work,
# `schedule(scheduler, app)`, `commands` for the CLI and `load_report(consultation)` for
# `participate load`. Imported here, the composition root; the core imports them nowhere else.
FEATURES: tuple[ModuleType, ...] = (kiosk, sms, voice, sync, hub, api)
ROLES = ("hub", "node")


def feature_name(feature: ModuleType) -> str:
    """Return a feature's short name (`kiosk`), which is also its gettext domain."""
    return feature.__name__.rpartition(".")[2]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then PARTICIPATE_* variables, then `config` (flags, tests)."""
    app = Flask(
        "participate",
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    settings.load(app.config, config)
    _check_config(app.config)
    _secure_cookies(app.config)
    # One gettext domain per package (translations/<lang>/LC_MESSAGES/<domain>.po), so each
    # feature owns its catalog; Flask-Babel pairs each domain with a directory.
    domains = ("participate", *(feature_name(feature) for feature in FEATURES))
    app.config["BABEL_DOMAIN"] = ";".join(domains)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(
        [str(resource_dir("translations"))] * len(domains)
    )
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["LANGUAGES"][0]

    with store.open_db(app.config["DATABASE"], migrate=True) as db:
        if not app.config.get("SECRET_KEY"):
            # Kept in the store so sessions survive a restart; never printed.
            key = store.get_meta(db, "secret_key")
            if key is None:
                key = secrets.token_hex(32)
                store.set_meta(db, "secret_key", key)
            app.config["SECRET_KEY"] = key
        if app.config["ROLE"] == "node" and app.config.get("DEVICE_ID"):
            store.set_meta(db, "device_id", app.config["DEVICE_ID"])
        # The staff pages count local days from the tallies: keep them in this zone.
        tallies.keep_days_in(db, str(app.config["TIMEZONE"]))

    if not app.testing:
        # SQLite checkpoints the WAL into the database, with an fsync, whenever the last
        # connection to it closes; with one connection per request that happened after
        # every request. One idle connection held for the app's life avoids it (measured:
        # a node's drain to the hub ran about a third faster).
        app.extensions["participate.store_keeper"] = store.open_db(app.config["DATABASE"])

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    babel.init_app(app, locale_selector=_select_locale)
    # French typography (FRENCH_TYPOGRAPHY) is applied where catalogs are loaded.
    babel.domain_instance = typography.TypographicDomain(app.config["BABEL_DOMAIN"])
    app.context_processor(typography.template_callables)
    csrf.init_app(app)
    app.teardown_appcontext(store.close_db)
    app.jinja_env.globals["participate_version"] = __version__

    app.add_url_rule("/healthz", "healthz", healthz)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ParticipateError, _participate_error)
    app.register_error_handler(Exception, _unexpected_error)

    for feature in FEATURES:
        feature.init_app(app)
    return app


def _check_config(config: Mapping[str, Any]) -> None:
    """Refuse settings that would only fail later, on some request, with a 500."""
    if config["ROLE"] not in ROLES:
        raise ConfigError(f"ROLE must be one of {ROLES}, got {config['ROLE']!r}")
    try:
        ZoneInfo(str(config["TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"TIMEZONE {config['TIMEZONE']!r} is not a time zone name like 'Europe/Paris'"
        ) from None
    languages = config["LANGUAGES"]
    if not isinstance(languages, list | tuple) or not languages:
        raise ConfigError("LANGUAGES must be a non-empty list of language codes")
    if config.get("FRENCH_TYPOGRAPHY", "fr-CA") not in typography.CONVENTIONS:
        raise ConfigError(
            f"FRENCH_TYPOGRAPHY must be one of {typography.CONVENTIONS},"
            f" got {config['FRENCH_TYPOGRAPHY']!r}"
        )


def _secure_cookies(config: Any) -> None:
    """Send the staff cookie same-site only, and over HTTPS only when the app is served so."""
    # Flask's defaults hold SESSION_COOKIE_SAMESITE as None, so setdefault would set nothing.
    if not config.get("SESSION_COOKIE_SAMESITE"):
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if str(config.get("PUBLIC_URL") or "").lower().startswith("https://"):
        config["SESSION_COOKIE_SECURE"] = True


def _select_locale() -> str | None:
    from flask import session

    languages = current_languages()
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or languages[0]


def current_languages() -> list[str]:
    """Return the interface languages this app offers."""
    from flask import current_app

    return list(current_app.config["LANGUAGES"])


def healthz() -> Any:
    """Report liveness and whether the store answers, as JSON (503 if it does not)."""
    from flask import current_app

    try:
        db = store.get_db()
        db.execute("SELECT count(*) FROM consultations").fetchone()
        store_state = "ok"
    except Exception as exc:  # the check exists to report any store failure
        log.error("healthz.store_failed", extra={"error": str(exc)})
        store_state = "error"
    body = {
        "status": "ok" if store_state == "ok" else "error",
        "store": store_state,
        "role": current_app.config["ROLE"],
        "version": __version__,
    }
    return jsonify(body), 200 if store_state == "ok" else 503


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz")) or (
        request.accept_mimetypes.best == "application/json"
    )


def _http_error(error: HTTPException) -> Any:
    if _wants_json():
        return jsonify(error=error.name, detail=error.description), error.code
    return render_template("error.html", error=error), error.code


def _participate_error(error: ParticipateError) -> Any:
    from werkzeug.exceptions import BadRequest, NotFound

    from participate.errors import NotFound as StoreNotFound

    http = NotFound(str(error)) if isinstance(error, StoreNotFound) else BadRequest(str(error))
    return _http_error(http)


def _unexpected_error(error: Exception) -> Any:
    from werkzeug.exceptions import InternalServerError

    log.exception("app.unexpected_error", extra={"path": request.path})
    return _http_error(InternalServerError())
