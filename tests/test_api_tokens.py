"""API tokens: made once and stored hashed, checked on every request, revocable, logged."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import sqlite_utils
from flask.testing import FlaskClient

from participate.api import tokens
from participate.api.auth import presented_secret
from participate.api.errors import TokenError


def test_a_token_is_stored_only_as_its_hash(db: sqlite_utils.Database) -> None:
    token, secret = tokens.create_token(db, "Open data portal", "viewer")
    assert secret.startswith("pt_") and len(secret) > 40
    stored = db.execute("SELECT * FROM api_tokens").fetchall()
    assert secret not in repr(stored)
    assert tokens.token_hash(secret) in repr(stored)
    assert token.name == "Open data portal" and token.role == "viewer"


@pytest.mark.parametrize(
    ("name", "role"),
    [("", "viewer"), ("x" * 81, "viewer"), ("bad/name", "viewer"), ("fine", "admin")],
)
def test_bad_names_and_roles_are_refused(db: sqlite_utils.Database, name: str, role: str) -> None:
    with pytest.raises(TokenError):
        tokens.create_token(db, name, role)
    assert db.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 0


def test_names_are_unique(db: sqlite_utils.Database) -> None:
    tokens.create_token(db, "portal", "viewer")
    with pytest.raises(TokenError, match="already"):
        tokens.create_token(db, "portal", "staff")


def test_every_use_is_logged_under_the_tokens_name(db: sqlite_utils.Database) -> None:
    token, secret = tokens.create_token(db, "Power BI", "staff")
    assert tokens.authenticate(
        db, secret, method="GET", path="/odata/v1/x.svc"
    ) == tokens.get_token(db, token.id)
    assert tokens.authenticate(db, secret + "x", method="GET", path="/") is None
    assert tokens.recent_uses(db) == [
        {
            "token_name": "Power BI",
            "used_at": tokens.get_token(db, token.id).last_used_at,
            "method": "GET",
            "path": "/odata/v1/x.svc",
        }
    ]


def test_a_revoked_token_no_longer_authenticates(db: sqlite_utils.Database) -> None:
    token, secret = tokens.create_token(db, "portal", "viewer")
    assert tokens.revoke(db, token.id)
    assert not tokens.revoke(db, token.id)
    assert tokens.authenticate(db, secret, method="GET", path="/") is None


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        ("Bearer pt_abc", "pt_abc"),
        ("bearer   pt_abc ", "pt_abc"),
        ("Basic " + base64.b64encode(b"anyone:pt_abc").decode(), "pt_abc"),
        ("Basic " + base64.b64encode(b":pt_abc").decode(), "pt_abc"),
        ("Basic " + base64.b64encode(b"pt_abc").decode(), None),
        ("Basic !!!", None),
        ("Digest x", None),
        ("", None),
    ],
)
def test_the_token_is_read_from_bearer_or_basic(header: str, secret: str | None) -> None:
    assert presented_secret(header) == secret


def test_add_token_prints_the_token_once(runner, db_path: Path, db) -> None:
    from participate.cli import main

    result = runner.invoke(
        main, ["add-token", "--db", str(db_path), "City portal", "--role", "viewer"]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert tokens.authenticate(db, secret, method="GET", path="/") is not None
    again = runner.invoke(
        main, ["add-token", "--db", str(db_path), "City portal", "--role", "staff"]
    )
    assert again.exit_code == 1 and "already" in again.output


def test_add_token_refuses_a_missing_store(runner, tmp_path: Path) -> None:
    from participate.cli import main

    result = runner.invoke(
        main, ["add-token", "--db", str(tmp_path / "none.db"), "x", "--role", "viewer"]
    )
    assert result.exit_code == 1 and "no store" in result.output


def test_an_unknown_or_revoked_token_gets_401_with_a_challenge(client: FlaskClient, db) -> None:
    token, secret = tokens.create_token(db, "portal", "viewer")
    assert client.get("/api/open/v1/consultations").status_code == 401
    ok = client.get("/api/open/v1/consultations", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200
    tokens.revoke(db, token.id)
    refused = client.get(
        "/api/open/v1/consultations", headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status_code == 401
    assert "Bearer" in refused.headers["WWW-Authenticate"]
    assert refused.json["detail"] == "This API token is unknown or was revoked."
