"""The app factory's shared routes and error handling."""

from __future__ import annotations

import pytest

from participate.app import create_app
from participate.errors import ConfigError


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


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("ROLE", "kiosk", "ROLE must be one of"),
        ("TIMEZONE", "Mars/Olympus", "not a time zone name"),
        ("LANGUAGES", [], "LANGUAGES must be"),
    ],
)
def test_unusable_settings_are_refused_at_start(db_path, setting, value, message) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app({"DATABASE": str(db_path), setting: value})


def test_a_bad_setting_is_a_readable_cli_error(runner, tmp_path, monkeypatch) -> None:
    from participate.cli import main

    monkeypatch.setenv("PARTICIPATE_TIMEZONE", "Nowhere/Land")
    result = runner.invoke(main, ["hub", "--db", str(tmp_path / "hub.db"), "--port", "0"])
    assert result.exit_code == 1
    assert "Error: TIMEZONE 'Nowhere/Land' is not a time zone name" in result.output


def test_trusted_proxies_give_the_client_address(app_config) -> None:
    from flask import request

    seen = []
    for hops in (0, 1):
        app = create_app({**app_config, "TRUSTED_PROXIES": hops})
        app.add_url_rule("/whoami", "whoami", lambda: seen.append(request.remote_addr) or "")
        app.test_client().get(
            "/whoami",
            headers={"X-Forwarded-For": "203.0.113.9"},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
    assert seen == ["127.0.0.1", "203.0.113.9"]
