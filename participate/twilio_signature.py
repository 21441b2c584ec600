"""Check that a request came from Twilio: one check for every channel Twilio calls (SMS, voice).

Twilio signs each webhook with the account's auth token over the URL it called and every
form parameter. Behind a TLS-terminating proxy the app sees another URL, so the URL is
rebuilt from PUBLIC_URL (the app's public root, prefix included) plus the path and the
query string exactly as received.
"""

from __future__ import annotations

import logging

from flask import abort, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

log = logging.getLogger(__name__)


def called_url(public_url: str) -> str:
    """Return the URL Twilio called: `public_url` (behind a proxy) plus the path and raw query."""
    base = public_url.rstrip("/") or request.host_url.rstrip("/") + request.script_root
    url = base + request.path
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def verify(auth_token: str, public_url: str) -> None:
    """Refuse (403) a request not signed by Twilio with `auth_token`; refuse all without one."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not auth_token or not signature:
        log.warning(
            "twilio.unsigned_request", extra={"path": request.path, "token_set": bool(auth_token)}
        )
        abort(403, description="This endpoint only accepts requests signed by Twilio.")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(auth_token).validate(
        called_url(public_url), request.form, signature, algorithm
    ):
        log.warning("twilio.bad_signature", extra={"path": request.path})
        abort(403, description="The request's Twilio signature does not match.")
