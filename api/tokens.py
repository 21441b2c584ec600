"""API tokens: made once, kept only as a SHA-256 hash, revocable, every use logged by name.

A token is 32 random bytes (256 bits). Staff passwords are hashed with argon2 because
people choose guessable ones, so each guess must be made slow. A token is not guessable:
no work factor is needed against brute force, and a fast hash lets every API request
find its token by an indexed lookup of the hash, without reading the token's text back.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace

import sqlite_utils

from participate import clock, store

from .errors import TokenError

ROLES = ("viewer", "staff")
PREFIX = "pt_"
_NAME = re.compile(r"^[\w .@-]{1,80}$")


@dataclass(frozen=True)
class Token:
    """A token's record (never its secret)."""

    id: int
    name: str
    role: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    def can(self, role: str) -> bool:
        """Return whether this token has at least `role`."""
        return ROLES.index(self.role) >= ROLES.index(role)


_COLUMNS = "id, name, role, created_at, last_used_at, revoked_at"


def token_hash(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_token(db: sqlite_utils.Database, name: str, role: str) -> tuple[Token, str]:
    """Make a token named `name` with `role`; return its record and its secret (shown once)."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise TokenError("A token name is 1 to 80 letters, digits, spaces or . @ _ -.")
    if role not in ROLES:
        raise TokenError(f"A token's role is one of {', '.join(ROLES)}.")
    secret = PREFIX + secrets.token_urlsafe(32)
    with store.write(db):
        if db.execute("SELECT 1 FROM api_tokens WHERE name = ?", [name]).fetchone():
            raise TokenError(f"There is already a token named {name!r}.")
        cursor = db.execute(
            "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
            [name, role, token_hash(secret), clock.utcnow()],
        )
    token = get_token(db, int(cursor.lastrowid or 0))
    assert token is not None
    return token, secret


def get_token(db: sqlite_utils.Database, token_id: int) -> Token | None:
    """Return one token's record, or None."""
    rows = list(db.query(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = ?", [token_id]))  # noqa: S608
    return Token(**rows[0]) if rows else None


def list_tokens(db: sqlite_utils.Database) -> list[Token]:
    """Return every token, live ones first, newest first."""
    sql = f"SELECT {_COLUMNS} FROM api_tokens ORDER BY revoked_at IS NOT NULL, id DESC"  # noqa: S608
    return [Token(**row) for row in db.query(sql)]


def revoke(db: sqlite_utils.Database, token_id: int) -> bool:
    """Revoke a token (its requests are refused from now on); False if there was none live."""
    cursor = db.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        [clock.utcnow(), token_id],
    )
    return cursor.rowcount == 1


def find(db: sqlite_utils.Database, secret: str) -> Token | None:
    """Return the live token whose secret this is, or None."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    sql = f"SELECT {_COLUMNS} FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL"  # noqa: S608
    rows = list(db.query(sql, [token_hash(secret)]))
    return Token(**rows[0]) if rows else None


def log_use(db: sqlite_utils.Database, token: Token, *, method: str, path: str) -> Token:
    """Record one request made with `token`, under its name; return it with its last use."""
    now = clock.utcnow()
    with store.write(db):
        db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [now, token.id])
        db.execute(
            "INSERT INTO api_token_uses (token_id, token_name, used_at, method, path)"
            " VALUES (?, ?, ?, ?, ?)",
            [token.id, token.name, now, method, path[:500]],
        )
    return replace(token, last_used_at=now)


def authenticate(db: sqlite_utils.Database, secret: str, *, method: str, path: str) -> Token | None:
    """Return the live token whose secret this is, logging the use under its name; else None."""
    token = find(db, secret)
    return None if token is None else log_use(db, token, method=method, path=path)


def recent_uses(db: sqlite_utils.Database, limit: int = 50) -> list[dict]:
    """Return the latest token uses, newest first."""
    return list(
        db.query(
            "SELECT token_name, used_at, method, path FROM api_token_uses ORDER BY id DESC LIMIT ?",
            [limit],
        )
    )
