"""Kept tallies: whatever stores, imports, hides, restores or erases, they equal a recount."""

from __future__ import annotations

import json
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from participate import clock, consultations, schema, store, submissions, tallies
from participate.cli import main
from participate.hub import imports, moderation
from participate.sync import devices, receive
from tests.conftest import EXAMPLE, RULED

START = datetime(2026, 10, 31, tzinfo=UTC)  # Toronto leaves daylight time on 1 November
answers = st.fixed_dictionaries(
    {
        "visits": st.sampled_from(["weekly", "monthly", "rarely"]),
        "times": st.lists(
            st.sampled_from(["mornings", "evenings", "sundays"]), min_size=1, unique=True
        ),
        "evenings": st.booleans(),
        "rating": st.integers(1, 5),
    },
    optional={
        "hours_per_week": st.integers(0, 40),
        "comments": st.text("abcdé ", min_size=1, max_size=12).filter(str.strip),
    },
)
# Times across a few days and both sides of midnight in Toronto, the tallies' zone here.
moments = st.integers(0, 4 * 24 * 60).map(
    lambda minutes: clock.to_text(START + timedelta(minutes=minutes))
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("kiosk"), answers, st.sampled_from(["en", "fr"]), st.booleans()),
        st.tuples(st.just("sms"), answers, st.sampled_from(["en", "fr"]), st.booleans()),
        st.tuples(st.just("push"), st.lists(st.tuples(answers, moments), min_size=1, max_size=4)),
        st.tuples(st.just("import"), st.lists(st.tuples(answers, moments), min_size=1, max_size=4)),
        st.tuples(st.just("hide"), st.integers(0, 50)),
        st.tuples(st.just("restore"), st.integers(0, 50)),
        st.tuples(st.just("erase"), st.integers(0, 50)),
    ),
    min_size=1,
    max_size=15,
)


class History:
    """A hub store, an enrolled device, and the operations the property draws."""

    def __init__(self, folder: Path, definition: Path = EXAMPLE) -> None:
        self.folder = folder
        self.db = store.open_db(folder / "hub.db", migrate=True)
        tallies.keep_days_in(self.db, "America/Toronto")
        self.consultation = consultations.read_file(definition)
        consultations.save(self.db, [self.consultation])
        self.device, _ = devices.add_device(self.db, "kiosk")
        self.seq = 0
        self.files = 0

    def ids(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT id FROM submissions ORDER BY rowid")]

    def pick(self, index: int) -> str | None:
        ids = self.ids()
        return ids[index % len(ids)] if ids else None

    def capture(self, channel: str, given: dict, language: str, complete: bool) -> None:
        submissions.record(
            self.db,
            self.consultation,
            channel=channel,
            language=language,
            answers=given,
            started_at=clock.utcnow(),
            complete=complete,
        )

    def item(self, given: dict, moment: str, device: str) -> dict:
        self.seq += 1
        return {
            "id": str(uuid.uuid4()),
            "consultation_id": self.consultation.id,
            "consultation_version": self.consultation.version,
            "channel": "kiosk",
            "device_id": device,
            "seq": self.seq,
            "respondent": "",
            "language": "fr",
            "started_at": moment,
            "submitted_at": moment,
            "answers": given,
            "complete": True,
        }

    def push(self, batch: list) -> None:
        receive.store_batch(self.db, self.device, [self.item(a, m, self.device) for a, m in batch])

    def import_records(self, batch: list) -> None:
        records = [
            {**self.item(a, m, "imported"), "received_at": m, "hidden": False} for a, m in batch
        ]
        self.files += 1
        path = self.folder / f"import-{self.files}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        imports.import_file(self.db, path)

    def moderate(self, index: int, action: str) -> None:
        chosen = self.pick(index)
        if chosen:
            moderation.moderate(self.db, chosen, action, "testing", "staff@example.org")

    def erase(self, index: int) -> None:
        # What an erasure does (issue 15): the tallies leave with the row, in one transaction.
        chosen = self.pick(index)
        if chosen:
            with store.write(self.db):
                tallies.remove(self.db, tallies.rows_for(self.db, "s.id = ?", [chosen]))
                self.db.execute("DELETE FROM moderation_log WHERE submission_id = ?", [chosen])
                self.db.execute("DELETE FROM submissions WHERE id = ?", [chosen])

    def run(self, history: list) -> None:
        for step in history:
            kind = step[0]
            if kind in ("kiosk", "sms"):
                self.capture(*step)
            elif kind == "push":
                self.push(step[1])
            elif kind == "import":
                self.import_records(step[1])
            elif kind in ("hide", "restore"):
                self.moderate(step[1], "hide" if kind == "hide" else "unhide")
            else:
                self.erase(step[1])


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_kept_tallies_equal_a_recount_after_any_history(history: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        hub = History(Path(folder))
        try:
            hub.run(history)
            assert tallies.differences(hub.db) == []
            assert sum(
                n for key, n in tallies.kept(hub.db).items() if key[1] == "" and key[2] == ""
            ) == len(hub.ids())
        finally:
            hub.db.close()


def test_check_reports_a_difference_and_rebuild_fixes_it(db_path: Path, example, db) -> None:
    submissions.record(
        db, example, channel="kiosk", language="en", answers=_answers(), started_at=clock.utcnow()
    )
    runner = CliRunner()
    assert runner.invoke(main, ["check", "--db", str(db_path)]).exit_code == 0
    # An edit by hand, past the write path: the tallies no longer match.
    db.execute("UPDATE submissions SET language = 'fr'")
    report = runner.invoke(main, ["check", "--db", str(db_path)])
    assert report.exit_code == 1
    assert "language='fr'" in report.output and "kept 0, recounted 1" in report.output
    fixed = runner.invoke(main, ["check", "--db", str(db_path), "--rebuild"])
    assert fixed.exit_code == 0 and "rebuilt" in fixed.output
    assert runner.invoke(main, ["check", "--db", str(db_path)]).exit_code == 0


def test_a_new_time_zone_recounts_the_days(db, example) -> None:
    late = "2026-12-01T23:30:00.000000Z"  # already 2 December in Paris
    with store.write(db):
        row = {
            "id": "x1",
            "consultation_id": example.id,
            "consultation_version": example.version,
            "channel": "kiosk",
            "device_id": "d",
            "seq": 1,
            "language": "en",
            "started_at": late,
            "submitted_at": late,
            "answers": json.dumps(_answers()),
            "complete": 1,
        }
        db.table("submissions").insert(row)
        tallies.add(db, [row])
    days = {key[2] for key in tallies.kept(db)} - {""}
    assert days == {"2026-12-01"}
    assert tallies.keep_days_in(db, "Europe/Paris") is True
    assert {key[2] for key in tallies.kept(db)} - {""} == {"2026-12-02"}
    assert tallies.keep_days_in(db, "Europe/Paris") is False


def test_the_migration_that_adds_tallies_counts_what_the_store_held(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with store.open_db(path) as db:
        # A store as it was before tallies: every migration up to the one that adds them.
        schema.migrations.apply(db, stop_before="m009_tallies")
        example = consultations.read_file(EXAMPLE)
        consultations._insert_version(db, example, "", clock.utcnow())
        held = [
            {**_answers(), "times": ["mornings", "sundays"], "hours_per_week": 12},
            {**_answers(), "evenings": False, "comments": "Plus de soirées"},
            {"visits": "rarely", "rating": 2},
        ]
        for n, answers in enumerate(held):
            moment = f"2026-11-0{n + 1}T23:30:00.000000Z"
            db.execute(
                "INSERT INTO submissions (id, consultation_id, consultation_version, channel,"
                " device_id, seq, language, started_at, submitted_at, answers, complete, hidden)"
                " VALUES (?, ?, ?, 'kiosk', 'd', ?, 'en', ?, ?, ?, ?, ?)",
                [f"s{n}", example.id, example.version, n + 1, moment, moment]
                + [json.dumps(answers, ensure_ascii=False), int(n < 2), int(n == 1)],
            )
    with store.open_db(path, migrate=True) as db:
        # Counted by the migration's SQL exactly as the write path counts in Python.
        assert tallies.differences(db) == []
        assert tallies.kept(db)[(example.id, "", "", "", "kiosk", "d", "en", 1, 0)] == 1
        assert tallies.kept(db)[(example.id, "times", "", '"sundays"', "kiosk", "d", "en", 1, 1)]


def _answers() -> dict:
    return {"visits": "weekly", "times": ["sundays"], "evenings": True, "rating": 4}


# --- skip logic: who was not asked a question is counted too -----------------------------


@st.composite
def ruled_answers(draw: st.DrawFn) -> dict:
    """Answers to tests/conftest.py's RULED as a person gives them: only what was asked."""
    given: dict = {"frequence": draw(st.sampled_from(["daily", "weekly", "never"]))}
    if "frequence" in given and draw(st.booleans()):
        del given["frequence"]  # part-way: stopped before the first question
    given["note"] = draw(st.integers(1, 5))
    if given.get("frequence") in ("daily", "weekly"):
        lines = draw(st.lists(st.sampled_from(["l10", "l55"]), max_size=2, unique=True))
        if lines:
            given["lignes"] = lines
        lit = draw(st.sampled_from([True, False, None]))
        if lit is not None:
            given["eclairage"] = lit
        if lit is False and draw(st.booleans()):
            given["pourquoi"] = draw(st.text("abcé ", min_size=1, max_size=8).filter(str.strip))
    return given


ruled_steps = st.lists(
    st.one_of(
        st.tuples(st.just("kiosk"), ruled_answers(), st.sampled_from(["en", "fr"]), st.just(False)),
        st.tuples(st.just("sms"), ruled_answers(), st.sampled_from(["en", "fr"]), st.just(False)),
        st.tuples(
            st.just("push"), st.lists(st.tuples(ruled_answers(), moments), min_size=1, max_size=4)
        ),
        st.tuples(
            st.just("import"), st.lists(st.tuples(ruled_answers(), moments), min_size=1, max_size=4)
        ),
        st.tuples(st.just("hide"), st.integers(0, 50)),
        st.tuples(st.just("restore"), st.integers(0, 50)),
        st.tuples(st.just("erase"), st.integers(0, 50)),
    ),
    min_size=1,
    max_size=15,
)


def _ruled_file(folder: Path) -> Path:
    path = folder / "arret.yaml"
    path.write_text(RULED, encoding="utf-8")
    return path


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ruled_steps)
def test_kept_tallies_with_rules_equal_a_recount_after_any_history(history: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        hub = History(Path(folder), _ruled_file(Path(folder)))
        try:
            hub.run(history)
            assert tallies.differences(hub.db) == []
            # Each question's "not asked" count is what Consultation.asked says of the
            # submissions shown (day '' holds every day).
            expected: dict[str, int] = {}
            for (answers,) in hub.db.execute("SELECT answers FROM submissions WHERE hidden = 0"):
                asked = {q.id for q in hub.consultation.asked(json.loads(answers))}
                for question in hub.consultation.questions:
                    if question.ask_if and question.id not in asked:
                        expected[question.id] = expected.get(question.id, 0) + 1
            kept: dict[str, int] = {}
            for key, n in tallies.kept(hub.db).items():
                if key[2] == "" and key[3] == tallies.NOT_ASKED and not key[8]:
                    kept[key[1]] = kept.get(key[1], 0) + n
            assert kept == expected
        finally:
            hub.db.close()


def test_not_asked_is_counted_as_stored_hidden_restored_and_erased(tmp_path: Path) -> None:
    hub = History(tmp_path, _ruled_file(tmp_path))
    try:
        for given in ({"frequence": "never", "note": 2}, {"frequence": "daily", "note": 4}):
            hub.capture("kiosk", given, "fr", True)
        hub.capture("sms", {"frequence": "weekly", "eclairage": False, "note": 1}, "en", True)

        def not_asked() -> dict[str, int]:
            rows = hub.db.execute(
                "SELECT question_id, sum(n) FROM tallies WHERE value = ? AND day = ''"
                " AND hidden = 0 GROUP BY question_id",
                [tallies.NOT_ASKED],
            )
            return dict(rows.fetchall())

        # "never": lignes, eclairage and pourquoi not asked; "daily" with no lighting
        # answer: pourquoi not asked; "weekly", badly lit: everything asked.
        assert not_asked() == {"lignes": 1, "eclairage": 1, "pourquoi": 2}
        never = hub.ids()[0]
        moderation.moderate(hub.db, never, "hide", "testing", "staff@example.org")
        assert not_asked() == {"pourquoi": 1}
        assert tallies.differences(hub.db) == []
        moderation.moderate(hub.db, never, "unhide", "testing", "staff@example.org")
        assert not_asked() == {"lignes": 1, "eclairage": 1, "pourquoi": 2}
        hub.erase(0)
        assert not_asked() == {"pourquoi": 1}
        assert tallies.differences(hub.db) == []
    finally:
        hub.db.close()


def test_the_migration_for_not_asked_recounts_a_store_with_rules(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with store.open_db(path) as db:
        schema.migrations.apply(db, stop_before="m016_tallies_not_asked")
        consultation = consultations.read_file(_ruled_file(tmp_path))
        consultations.save(db, [consultation])
        submissions.record(
            db,
            consultation,
            channel="kiosk",
            language="fr",
            answers={"frequence": "never", "note": 3},
            started_at=clock.utcnow(),
        )
        # The tallies as the code before kept them: no "not asked" rows.
        db.execute("DELETE FROM tallies WHERE value = ?", [tallies.NOT_ASKED])
        assert len(tallies.differences(db)) == 6  # 3 questions, each day and all days
    runner = CliRunner()
    report = runner.invoke(main, ["check", "--db", str(path)])
    assert report.exit_code == 0, report.output
    assert "recounted" in report.output and "Tallies match" in report.output
    with store.open_db(path) as db:
        assert store.get_meta(db, tallies.RECOUNT_KEY) is None
        assert tallies.differences(db) == []
        assert (
            tallies.kept(db)[
                (
                    consultation.id,
                    "lignes",
                    "",
                    tallies.NOT_ASKED,
                    "kiosk",
                    submissions.device_id(db),
                    "fr",
                    1,
                    0,
                )
            ]
            == 1
        )


def test_the_migration_for_not_asked_leaves_a_store_without_rules_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with store.open_db(path) as db:
        schema.migrations.apply(db, stop_before="m016_tallies_not_asked")
        example = consultations.read_file(EXAMPLE)
        consultations.save(db, [example])
        submissions.record(
            db,
            example,
            channel="kiosk",
            language="en",
            answers=_answers(),
            started_at=clock.utcnow(),
        )
    with store.open_db(path, migrate=True) as db:
        assert store.get_meta(db, tallies.RECOUNT_KEY) is None
        assert tallies.differences(db) == []
