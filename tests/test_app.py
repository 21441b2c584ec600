"""The app factory's shared routes and error handling."""

from __future__ import annotations

import pytest

from participate.app import create_app


def test_healthz_reports_store_and_role(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["store"] == "ok"
    assert response.json["role"] == "hub"


def test_healthz_reports_a_broken_store(app, db_path) -> None:
    db_path.unlink()
    db_path.mkdir()  # the path now names a directory: SQLite cannot open it
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["store"] == "error"


def test_unknown_page_is_a_plain_404(client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"<h1>404 Not Found</h1>" in response.data


def test_api_errors_are_json(client) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and response.json["error"] == "Not Found"


def test_bodies_over_the_limit_are_refused(app_config) -> None:
    app = create_app({**app_config, "MAX_CONTENT_LENGTH": 1024})

    @app.post("/echo")
    def echo() -> str:
        from flask import request

        return str(len(request.get_data()))

    app.config["WTF_CSRF_ENABLED"] = False
    response = app.test_client().post("/echo", data=b"x" * 2048)
    assert response.status_code == 413


def test_unknown_role_is_refused(db_path) -> None:
    with pytest.raises(ValueError, match="ROLE"):
        create_app({"DATABASE": str(db_path), "ROLE": "kiosk"})
