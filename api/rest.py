"""The read API, `/api/open/v1/`: consultations, their versions and codebook, and pages of
submissions with the export's fields, for any system holding an API token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from werkzeug.exceptions import Forbidden

from participate import consultations, store
from participate.hub import FilterError, Filters

from . import cursors, openapi, reading
from .auth import CHALLENGE, require_token
from .errors import QueryError, Unauthenticated

bp = Blueprint("open_api", __name__, url_prefix="/api/open/v1")
DEFAULT_LIMIT = 100


@bp.errorhandler(Unauthenticated)
def _unauthenticated(error: Unauthenticated) -> Any:
    response = jsonify(error="Unauthorized", detail=str(error))
    response.status_code = 401
    response.headers["WWW-Authenticate"] = CHALLENGE
    return response


@bp.errorhandler(QueryError)
@bp.errorhandler(FilterError)
def _bad_query(error: Exception) -> Any:
    return jsonify(error="Bad Request", detail=str(error)), 400


@bp.get("/openapi.json")
def openapi_description() -> Any:
    """Serve the API's OpenAPI description (no token needed to read it)."""
    return jsonify(openapi.describe(request.host_url.rstrip("/") + bp.url_prefix))


@bp.get("/consultations")
def consultation_list() -> Any:
    """List every consultation with its versions."""
    require_token()
    return jsonify(consultations=reading.all_consultations(store.get_db()))


@bp.get("/consultations/<consultation_id>")
def consultation_detail(consultation_id: str) -> Any:
    """Show one consultation: its summary and its current definition."""
    require_token()
    db = store.get_db()
    consultation = consultations.get(db, consultation_id)
    body = reading.consultation_summary(db, consultation)
    body["definition"] = consultation.definition
    return jsonify(body)


@bp.get("/consultations/<consultation_id>/versions/<version>")
def version_detail(consultation_id: str, version: str) -> Any:
    """Show one version's definition, as loaded."""
    require_token()
    consultation = consultations.get(store.get_db(), consultation_id, version)
    return jsonify(version=consultation.version, definition=consultation.definition)


@bp.get("/consultations/<consultation_id>/codebook")
def codebook(consultation_id: str) -> Any:
    """Give the export's codebook: every column, question and choice, in every language."""
    require_token()
    return jsonify(codebook=reading.codebook(store.get_db(), consultation_id))


@bp.get("/consultations/<consultation_id>/submissions")
def submission_list(consultation_id: str) -> Any:
    """Give a page of submissions (oldest first) and the cursor of the next one."""
    token = require_token()
    filters = Filters.from_args(request.args, timezone=current_app.config["TIMEZONE"])
    if filters.include_hidden and not token.can("staff"):
        raise Forbidden("Hidden submissions need a staff token.")
    limit = _limit(request.args.get("limit", ""))
    cursor = request.args.get("cursor", "")
    after = cursors.decode(cursor) if cursor else None
    db = store.get_db()
    consultations.get(db, consultation_id)  # 404 for an unknown consultation
    page = reading.submissions_page(db, consultation_id, filters, limit=limit, after=after)
    body: dict[str, Any] = {"submissions": page.records, "next_cursor": None, "next": None}
    if page.after is not None:
        body["next_cursor"] = cursors.encode(*page.after)
        args = {**request.args.to_dict(), "cursor": body["next_cursor"]}
        body["next"] = url_for(
            ".submission_list", consultation_id=consultation_id, _external=True, **args
        )
    return jsonify(body)


def _limit(value: str) -> int:
    if not value:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= reading.MAX_PAGE:
        raise QueryError(f"limit must be a whole number from 1 to {reading.MAX_PAGE}.")
    return int(value)
