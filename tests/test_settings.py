"""Settings: every one documented, and read from the environment."""

from __future__ import annotations

import re

from participate.app import create_app
from participate.settings import DEFAULTS, SETTINGS
from tests.conftest import ROOT


def test_every_setting_is_documented() -> None:
    documented = set(
        re.findall(r"^\| `([A-Z_]+)` \|", (ROOT / "docs/configuration.md").read_text(), re.M)
    )
    declared = {s.name for s in SETTINGS}
    assert declared - documented == set(), "settings missing from docs/configuration.md"
    assert documented - declared == set(), "docs/configuration.md lists unknown settings"


def test_every_setting_has_help_and_a_unique_name() -> None:
    assert len(DEFAULTS) == len(SETTINGS)
    assert all(s.help.strip() for s in SETTINGS)


def test_environment_overrides_defaults_and_config_overrides_environment(
    monkeypatch, db_path
) -> None:
    monkeypatch.setenv("PARTICIPATE_KIOSK_IDLE_SECONDS", "45")
    monkeypatch.setenv("PARTICIPATE_TIMEZONE", "Europe/Paris")
    app = create_app({"DATABASE": str(db_path), "TIMEZONE": "America/Toronto"})
    assert app.config["KIOSK_IDLE_SECONDS"] == 45
    assert app.config["TIMEZONE"] == "America/Toronto"
    assert app.config["SYNC_INTERVAL"] == DEFAULTS["SYNC_INTERVAL"]


def test_secret_key_is_made_once_and_kept(db_path) -> None:
    first = create_app({"DATABASE": str(db_path)}).config["SECRET_KEY"]
    second = create_app({"DATABASE": str(db_path)}).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
