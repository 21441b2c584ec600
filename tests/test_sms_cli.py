"""`participate invite` and the SMS lines of `participate load`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from participate import consultations, store
from participate.app import create_app
from participate.cli import main
from participate.sms import config as sms_config
from participate.sms import conversations
from tests.conftest import EXAMPLE

NUMBERS = """\
# People who ticked "you may text me" on the paper form
+1 415 555 2671
(415) 555-2672   # written the local way
+14155552671
not a number
+1 555 555 0123

+33 6 12 34 56 78
"""


@pytest.fixture(autouse=True)
def no_twilio(monkeypatch) -> None:
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "PHONE_PEPPER"):
        monkeypatch.delenv(f"PARTICIPATE_{name}", raising=False)


@pytest.fixture
def loaded(db) -> consultations.Consultation:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.pop("opens", None)
    consultation = consultations.parse(data, "example")
    consultations.save(db, [consultation])
    return consultation


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.txt"
    path.write_text(NUMBERS, encoding="utf-8")
    return path


def invite(runner, db_path: Path, numbers: Path, *extra: str):
    args = ["invite", "--db", str(db_path), "--consultation", "library-hours"]
    return runner.invoke(main, [*args, "--numbers", str(numbers), *extra])


def queued(db) -> list[tuple[str, str, str]]:
    return db.execute(
        "SELECT c.phone, o.kind, o.body FROM sms_outbound o"
        " JOIN sms_contacts c ON c.id = o.contact_id WHERE o.status = 'queued' ORDER BY o.id"
    ).fetchall()


def test_invite_queues_one_message_per_valid_number(runner, db_path, db, loaded, numbers):
    result = invite(runner, db_path, numbers)
    assert result.exit_code == 0, result.output
    assert "3 invitations queued for library-hours (en)." in result.output
    assert "1 skipped: already sent or answered." in result.output
    assert "line 5: not a number" in result.output
    assert "line 6: +1 555 555 0123" in result.output
    rows = queued(db)
    assert [r[0] for r in rows] == ["+14155552671", "+14155552672", "+33612345678"]
    assert rows[0][2] == (
        "Library opening hours: Help us choose new opening hours. Text HOURS to take part."
        " Reply STOP to opt out."
    )
    # Running it again invites nobody twice.
    again = invite(runner, db_path, numbers)
    assert "0 invitations queued" in again.output and len(queued(db)) == 3


def test_invite_in_french(runner, db_path, db, loaded, numbers) -> None:
    result = invite(runner, db_path, numbers, "--language", "fr")
    assert result.exit_code == 0, result.output
    body = queued(db)[0][2]
    assert body.startswith("Heures d'ouverture de la bibliothèque : Aidez-nous")
    assert "Envoyez HEURES pour participer. Répondez STOP pour quitter." in body


def test_invite_skips_numbers_that_opted_out(runner, db_path, db, loaded, numbers) -> None:
    settings = sms_config.get(create_app({"DATABASE": str(db_path)}))
    conversations.receive(db, settings, conversations.Inbound("+14155552672", "STOP", "SM1"))
    result = invite(runner, db_path, numbers)
    assert "2 invitations queued" in result.output
    assert "1 skipped: the number opted out." in result.output
    assert "+14155552672" not in [r[0] for r in queued(db)]


def test_reminders_skip_numbers_that_answered(runner, db_path, db, loaded, numbers) -> None:
    settings = sms_config.get(create_app({"DATABASE": str(db_path)}))
    for sid, body in enumerate(["HOURS", "1", "1", "yes", "5", "SKIP", "SKIP"]):
        conversations.receive(db, settings, conversations.Inbound("+14155552671", body, f"SM{sid}"))
    result = invite(runner, db_path, numbers, "--reminder")
    assert result.exit_code == 0, result.output
    assert "2 reminders queued" in result.output
    rows = queued(db)
    assert [r[0] for r in rows] == ["+14155552672", "+33612345678"]
    assert rows[0][2].startswith("Reminder: Library opening hours. Text HOURS to take part.")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--consultation", "nope"], "no consultation 'nope'"),
        (["--language", "de"], "has no language 'de'"),
    ],
)
def test_invite_errors_are_clear(runner, db_path, loaded, numbers, args, message) -> None:
    base = ["invite", "--db", str(db_path), "--numbers", str(numbers)]
    if "--consultation" not in args:
        base += ["--consultation", "library-hours"]
    result = runner.invoke(main, [*base, *args])
    assert result.exit_code == 1
    assert message in result.output
    with store.open_db(db_path) as db:
        assert db.execute("SELECT count(*) FROM sms_outbound").fetchone()[0] == 0


def test_invite_has_help(runner) -> None:
    result = runner.invoke(main, ["invite", "--help"])
    assert result.exit_code == 0 and "agreed to be contacted" in result.output


def test_load_prints_sms_costs(runner, tmp_path) -> None:
    costly = tmp_path / "costly.yaml"
    costly.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace(
            "Quelle est la fréquence de vos visites ?", "À quelle fréquence venez-vous ?"
        ),
        encoding="utf-8",
    )
    result = runner.invoke(main, ["load", "--db", str(tmp_path / "x.db"), str(costly)])
    assert result.exit_code == 0, result.output
    assert "  sms en visits: GSM-7, 1 segment" in result.output
    assert "  sms fr visits: UCS-2, 2 segments (because of: À)" in result.output


def test_hub_with_twilio_credentials_but_no_pepper_refuses_to_start(
    runner, tmp_path, monkeypatch
) -> None:
    import participate.serve

    def must_not_serve(*args, **kwargs) -> None:
        raise AssertionError("the hub started without a phone pepper")

    monkeypatch.setattr(participate.serve, "serve", must_not_serve)
    monkeypatch.setenv("PARTICIPATE_TWILIO_AUTH_TOKEN", "a-real-looking-token-0123456789")
    result = runner.invoke(main, ["hub", "--db", str(tmp_path / "hub.db"), "--port", "0"])
    assert result.exit_code == 1
    assert "PHONE_PEPPER is not set" in result.output
    assert not (tmp_path / "hub.db.phone-pepper").exists()
