"""Staff accounts: argon2 password hashes, roles, failed-login locks and stored sessions.

Roles are ordered: a viewer reads; staff also moderate and export; an admin also manages
users, devices and consultations. A sign-in is a row in `staff_sessions` keyed by the
SHA-256 of a random token that only the browser's cookie holds, so a logout, a disabled
account or an expired sign-in ends it on the server, not only in the browser.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _

from participate import clock, store

from .errors import AccountLocked, LoginFailed, UserError

ROLES = ("viewer", "staff", "admin")
MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_hasher = PasswordHasher()
_dummy_hashes: dict[str, str] = {}


def _dummy_hash() -> str:
    """Return a hash to verify against when the email is unknown.

    A wrong email then costs as long as a wrong password, so response times do not
    reveal which accounts exist. Made on first use: hashing at import would cost every
    command (an export, say) argon2's time and memory.
    """
    key = repr(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash("not a real password, only for timing")
    return _dummy_hashes[key]


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    created_at: str
    disabled_at: str | None
    failed_logins: int
    locked_until: str | None
    last_login_at: str | None

    def can(self, role: str) -> bool:
        """Say whether this user holds `role` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _user(row: Mapping[str, Any]) -> User:
    return User(**row)


_COLUMNS = "id, email, role, created_at, disabled_at, failed_logins, locked_until, last_login_at"


def check_password_rules(password: str) -> None:
    """Refuse a password too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            _("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        )


def _role_error(role: str) -> str:
    return _(
        "The role must be one of %(roles)s, not “%(role)s”.", roles=", ".join(ROLES), role=role
    )


def create_user(db: sqlite_utils.Database, email: str, password: str, role: str) -> User:
    """Create a staff account with an argon2 hash of its password."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise UserError(_("“%(email)s” is not an email address.", email=email))
    if role not in ROLES:
        raise UserError(_role_error(role))
    check_password_rules(password)
    password_hash = _hasher.hash(password)
    with store.write(db):
        if db.execute("SELECT 1 FROM users WHERE email = ?", [email]).fetchone():
            raise UserError(_("There is already an account for %(email)s.", email=email))
        db.execute(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            [email, password_hash, role, clock.utcnow()],
        )
    user = find_user(db, email)
    assert user is not None
    return user


def find_user(db: sqlite_utils.Database, email: str) -> User | None:
    """Return the account with this email (any case), or None."""
    row = store.first_row(db, f"SELECT {_COLUMNS} FROM users WHERE email = ?", [email.strip()])  # noqa: S608
    return _user(row) if row else None


def get_user(db: sqlite_utils.Database, user_id: int) -> User | None:
    """Return the account with this id, or None."""
    row = store.first_row(db, f"SELECT {_COLUMNS} FROM users WHERE id = ?", [user_id])  # noqa: S608
    return _user(row) if row else None


def list_users(db: sqlite_utils.Database) -> list[User]:
    """Return every staff account, by email."""
    rows = db.query(f"SELECT {_COLUMNS} FROM users ORDER BY email")  # noqa: S608
    return [_user(row) for row in rows]


def authenticate(
    db: sqlite_utils.Database,
    email: str,
    password: str,
    *,
    max_failures: int = 5,
    lock_minutes: int = 15,
) -> User:
    """Return the account if the password matches; count failures and lock after too many.

    Every attempt checks exactly one argon2 hash (a dummy one for an unknown email, the
    real one for a locked account), so timing tells nothing about which accounts exist.
    The hash is checked outside the write lock: argon2 takes tens of milliseconds and
    must not hold up the submissions that nodes push meanwhile.
    """
    row = store.first_row(
        db,
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE email = ?",  # noqa: S608
        [email.strip()],
    )
    if row is None:
        _verify(_dummy_hash(), password)
        raise LoginFailed("wrong email or password")
    password_hash = row.pop("password_hash")
    user = _user(row)
    matches = _verify(password_hash, password)
    now = clock.utcnow()
    if user.locked_until and user.locked_until > now:
        raise AccountLocked("too many failed attempts; try again later", user.locked_until)
    if matches and not user.disabled_at:
        new_hash = _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None
        with store.write(db):
            if new_hash:
                db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [new_hash, user.id])
            db.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ?"
                " WHERE id = ?",
                [now, user.id],
            )
        return get_user(db, user.id) or user
    locked_until = _count_failure(db, user.id, max_failures, lock_minutes)
    if locked_until:
        raise AccountLocked("too many failed attempts; try again later", locked_until)
    raise LoginFailed("wrong email or password")


def _count_failure(
    db: sqlite_utils.Database, user_id: int, max_failures: int, lock_minutes: int
) -> str | None:
    """Count a failed password (re-read under the lock, so none is lost); lock at the limit."""
    locked_until = None
    with store.write(db):
        failures = (
            db.execute("SELECT failed_logins FROM users WHERE id = ?", [user_id]).fetchone()[0] + 1
        )
        if failures >= max_failures:
            moment = clock.parse(clock.utcnow()) + timedelta(minutes=lock_minutes)
            locked_until, failures = clock.to_text(moment), 0
        db.execute(
            "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
            [failures, locked_until, user_id],
        )
    return locked_until


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(db: sqlite_utils.Database, user_id: int, password: str) -> None:
    """Replace an account's password and end its sign-ins."""
    check_password_rules(password)
    password_hash = _hasher.hash(password)
    with store.write(db):
        _require(db, user_id)
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [password_hash, user_id])
        db.execute("DELETE FROM staff_sessions WHERE user_id = ?", [user_id])


def set_role(db: sqlite_utils.Database, user_id: int, role: str) -> None:
    """Change an account's role, refusing to leave the hub without an active admin."""
    if role not in ROLES:
        raise UserError(_role_error(role))
    with store.write(db):
        user = _require(db, user_id)
        if user.role == "admin" and role != "admin":
            _keep_an_admin(db, user_id)
        db.execute("UPDATE users SET role = ? WHERE id = ?", [role, user_id])


def set_disabled(db: sqlite_utils.Database, user_id: int, disabled: bool) -> None:
    """Disable an account (ending its sign-ins) or enable it again, unlocking it."""
    with store.write(db):
        user = _require(db, user_id)
        if disabled:
            if user.role == "admin":
                _keep_an_admin(db, user_id)
            db.execute(
                "UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?",
                [clock.utcnow(), user_id],
            )
            db.execute("DELETE FROM staff_sessions WHERE user_id = ?", [user_id])
        else:
            db.execute(
                "UPDATE users SET disabled_at = NULL, failed_logins = 0, locked_until = NULL"
                " WHERE id = ?",
                [user_id],
            )


def _require(db: sqlite_utils.Database, user_id: int) -> User:
    user = get_user(db, user_id)
    if user is None:
        raise UserError(_("There is no staff account %(id)s.", id=user_id))
    return user


def _keep_an_admin(db: sqlite_utils.Database, leaving_id: int) -> None:
    others = db.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id != ?",
        [leaving_id],
    ).fetchone()[0]
    if not others:
        raise UserError(_("The hub needs at least one active admin."))


# --- sessions --------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start_session(db: sqlite_utils.Database, user: User) -> str:
    """Record a new sign-in for `user` and return the token for its cookie."""
    token = secrets.token_urlsafe(32)
    now = clock.utcnow()
    with store.write(db):
        db.execute(
            "INSERT INTO staff_sessions (token_hash, user_id, created_at, last_seen_at)"
            " VALUES (?, ?, ?, ?)",
            [_token_hash(token), user.id, now, now],
        )
    return token


def resume_session(
    db: sqlite_utils.Database, token: str, *, max_hours: float, idle_minutes: float
) -> User | None:
    """Return the signed-in user for a cookie's token, or None if it ended or expired."""
    now = clock.parse(clock.utcnow())
    key = _token_hash(token)
    session = store.first_row(
        db,
        "SELECT user_id, created_at, last_seen_at FROM staff_sessions WHERE token_hash = ?",
        [key],
    )
    if session is None:
        return None
    too_old = now - clock.parse(session["created_at"]) > timedelta(hours=max_hours)
    too_idle = now - clock.parse(session["last_seen_at"]) > timedelta(minutes=idle_minutes)
    user = get_user(db, session["user_id"])
    if too_old or too_idle or user is None or user.disabled_at:
        end_session(db, token)
        return None
    # Touch at most once a minute: a page full of requests should not write each time.
    if now - clock.parse(session["last_seen_at"]) > timedelta(minutes=1):
        with store.write(db):
            db.execute(
                "UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?",
                [clock.to_text(now), key],
            )
    return user


def end_session(db: sqlite_utils.Database, token: str) -> None:
    """Forget a sign-in (logout, expiry)."""
    with store.write(db):
        db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", [_token_hash(token)])


def purge_sessions(db: sqlite_utils.Database, *, max_hours: float) -> int:
    """Delete sign-ins older than the session lifetime; return how many went."""
    cutoff = clock.to_text(clock.parse(clock.utcnow()) - timedelta(hours=max_hours))
    with store.write(db):
        cursor = db.execute("DELETE FROM staff_sessions WHERE created_at < ?", [cutoff])
    return cursor.rowcount
