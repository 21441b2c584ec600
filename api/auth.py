"""Who is calling: an API token, given as `Authorization: Bearer TOKEN` or as the password
of HTTP Basic authentication (what Excel's and Power BI's OData connectors offer)."""

from __future__ import annotations

import base64
import binascii
import logging

from flask import current_app, g, request

from participate import group_commit, store

from . import tokens
from .errors import Unauthenticated
from .tokens import Token

log = logging.getLogger(__name__)
CHALLENGE = 'Bearer realm="Participate", Basic realm="Participate", charset="UTF-8"'


def presented_secret(header: str) -> str | None:
    """Return the token an Authorization header carries (Bearer, or Basic's password)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, colon, password = decoded.partition(":")
        return password if colon and password else None
    return None


def require_token(role: str = "viewer") -> Token:
    """Return this request's token (logging its use), or raise Unauthenticated."""
    secret = presented_secret(request.headers.get("Authorization", ""))
    if secret is None:
        raise Unauthenticated("Send an API token: Authorization: Bearer TOKEN.")
    token = tokens.find(store.get_db(), secret)
    if token is None:
        raise Unauthenticated("This API token is unknown or was revoked.")
    if not token.can(role):
        raise Unauthenticated(f"This API token's role ({token.role}) does not allow this.")
    method, path = request.method, request.full_path.rstrip("?")
    # Concurrent requests (a connector reading pages in parallel) share one commit.
    writer = group_commit.writer_for(current_app.config["DATABASE"])
    g.api_token = writer.run(lambda db: tokens.log_use(db, token, method=method, path=path))
    log.info("api.request", extra={"token": token.name, "method": method, "path": path})
    return g.api_token
