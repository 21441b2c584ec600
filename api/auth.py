"""Who is calling: an API token, given as `Authorization: Bearer TOKEN` or as the password
of HTTP Basic authentication (what Excel's and Power BI's OData connectors offer)."""

from __future__ import annotations

import base64
import binascii
import logging

from flask import g, request

from participate import store

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
    path = request.full_path.rstrip("?")
    token = tokens.authenticate(store.get_db(), secret, method=request.method, path=path)
    if token is None:
        raise Unauthenticated("This API token is unknown or was revoked.")
    if not token.can(role):
        raise Unauthenticated(f"This API token's role ({token.role}) does not allow this.")
    g.api_token = token
    log.info("api.request", extra={"token": token.name, "method": request.method, "path": path})
    return token
