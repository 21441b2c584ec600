"""Exports: CSV, XLSX, JSON and JSON Lines from the one set of writers, and the command."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlite_utils
from click.testing import CliRunner

from participate import clock, consultations, store, submissions
from participate.cli import main
from participate.hub import export, moderation
from participate.hub.results import Filters
from tests.conftest import EXAMPLE, record_submission, save_ruled

SMS_PSEUDONYM = "5b1c0e" + "0" * 58  # the form of participate.sms.phones.pseudonym

FORMULAS = ["=1+2", "+SUM(A1)", "-3+cmd", "@SUM(A1)", '=HYPERLINK("http://x")']


@pytest.fixture
def loaded(db: sqlite_utils.Database, example: consultations.Consultation) -> dict:
    """Record a kiosk and an SMS submission, plus one per formula payload."""
    kiosk = record_submission(
        db,
        example,
        {
            "visits": "weekly",
            "times": ["mornings", "sundays"],
            "evenings": True,
            "rating": 4,
            "hours_per_week": 3,
            "comments": 'Très bien, merci\nligne 2, "cité"',
        },
        language="fr",
    )
    sms = record_submission(
        db,
        example,
        {"visits": "rarely", "evenings": False, "rating": 2},
        channel="sms",
        respondent=SMS_PSEUDONYM,
        complete=False,
    )
    payloads = [
        record_submission(
            db,
            example,
            {
                "visits": "monthly",
                "times": ["evenings"],
                "evenings": True,
                "rating": 3,
                "comments": text,
            },
        )
        for text in FORMULAS
    ]
    return {"kiosk": kiosk, "sms": sms, "payloads": payloads}


def _csv(db: sqlite_utils.Database, consultation: str = "library-hours", **options) -> list[dict]:
    plan = export.plan_export(db, consultation, export.ExportOptions(**options))
    text = "".join(export.csv_chunks(db, plan))
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_csv_has_metadata_then_one_column_a_question_and_a_choice(
    db: sqlite_utils.Database, loaded: dict
) -> None:
    rows = _csv(db)
    header = list(rows[0])
    assert header[:13] == [name for name, _, _ in export.METADATA_COLUMNS]
    assert header[13:] == [
        "visits",
        "times.mornings",
        "times.evenings",
        "times.sundays",
        "evenings",
        "rating",
        "hours_per_week",
        "comments",
    ]
    by_id = {row["id"]: row for row in rows}
    kiosk = by_id[loaded["kiosk"]["id"]]
    assert (kiosk["times.mornings"], kiosk["times.evenings"], kiosk["times.sundays"]) == (
        "1",
        "0",
        "1",
    )
    assert kiosk["visits"] == "weekly" and kiosk["evenings"] == "yes" and kiosk["rating"] == "4"
    assert kiosk["comments"] == 'Très bien, merci\nligne 2, "cité"'
    assert kiosk["complete"] == "1" and kiosk["respondent"] == ""
    sms = by_id[loaded["sms"]["id"]]
    # A skipped multi is empty, not "none chosen".
    assert (sms["times.mornings"], sms["comments"], sms["evenings"]) == ("", "", "no")
    assert sms["complete"] == "0" and sms["respondent"] == SMS_PSEUDONYM
    assert sms["channel"] == "sms" and sms["language"] == "en"


def test_csv_labels_in_a_language(db: sqlite_utils.Database, loaded: dict) -> None:
    rows = {r["id"]: r for r in _csv(db, labels=True, language="fr")}
    kiosk = rows[loaded["kiosk"]["id"]]
    assert kiosk["visits"] == "Chaque semaine" and kiosk["evenings"] == "Oui"
    assert rows[loaded["sms"]["id"]]["visits"] == "Rarement"
    with pytest.raises(export.ExportError):
        export.plan_export(db, "library-hours", export.ExportOptions(labels=True, language="de"))


def test_formulas_are_neutralised_in_csv_and_xlsx(
    db: sqlite_utils.Database, loaded: dict, tmp_path: Path
) -> None:
    rows = {r["id"]: r for r in _csv(db)}
    for record, text in zip(loaded["payloads"], FORMULAS, strict=True):
        assert rows[record["id"]]["comments"] == "'" + text
    plan = export.plan_export(db, "library-hours")
    export.write_xlsx(db, plan, tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["submissions"]
    header = [c.value for c in sheet[1]]
    cells = {
        row[0]: row[header.index("comments")]
        for row in sheet.iter_rows(min_row=2, values_only=True)
    }
    for record, text in zip(loaded["payloads"], FORMULAS, strict=True):
        assert cells[record["id"]] == "'" + text
    # No cell of the workbook is a formula.
    workbook = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert not [c for ws in workbook for row in ws.iter_rows() for c in row if c.data_type == "f"]
    # Numbers stay numbers: a negative number is not a formula.
    assert export.neutralize(-3) == -3
    for start in ["\t", "\r", "\0"]:
        assert export.neutralize(start + "x") == "'" + start + "x"


@pytest.mark.parametrize("text", ["\x01=1+2", "\x0b\x1f@SUM(A1)", "\x02\x03-3+cmd"])
def test_a_formula_behind_control_characters_is_neutralised_in_xlsx(
    db: sqlite_utils.Database, example: consultations.Consultation, tmp_path: Path, text: str
) -> None:
    # XLSX cells cannot hold control characters: removing them must not uncover a formula.
    record = record_submission(
        db,
        example,
        {
            "visits": "weekly",
            "times": ["evenings"],
            "evenings": True,
            "rating": 3,
            "comments": "placeholder",
        },
    )
    # Capture strips control characters; a store written otherwise (an older version,
    # a repair by hand) may still hold them, so the export must not rely on it.
    db.execute(
        "UPDATE submissions SET answers = json_set(answers, '$.comments', ?) WHERE id = ?",
        [text, record["id"]],
    )
    plan = export.plan_export(db, "library-hours")
    export.write_xlsx(db, plan, tmp_path / "out.xlsx")
    workbook = openpyxl.load_workbook(tmp_path / "out.xlsx")
    sheet = workbook["submissions"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == record["id"])
    cell = row[header.index("comments")]
    assert cell.data_type != "f" and str(cell.value).startswith("'")


def test_neutralising_sql_matches_the_python_rule(db: sqlite_utils.Database) -> None:
    for text in [*FORMULAS, "\tx", "\rx", "\0x", "plain", "", "é=1", "'=1"]:
        got = db.execute(
            f"SELECT {export._safe_sql('?')}", [text] * export.SAFE_REPEATS
        ).fetchone()[0]
        assert got == export.neutralize(text), repr(text)
    assert db.execute(f"SELECT {export._safe_sql('-5')}").fetchone()[0] == -5


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_a_respondent_that_is_not_a_pseudonym_is_never_written(
    db: sqlite_utils.Database, loaded: dict, example: consultations.Consultation, fmt: str
) -> None:
    # However it got into the store (an old hub, a hand-made row), a number stays there.
    phone = record_submission(
        db,
        example,
        {"visits": "rarely", "evenings": False, "rating": 2},
        channel="sms",
        respondent="+14155550199",
        complete=False,
    )
    plan = export.plan_export(db, "library-hours")
    out = io.BytesIO()
    export.write_export(fmt, db, plan, out)
    if fmt == "xlsx":
        rows = openpyxl.load_workbook(io.BytesIO(out.getvalue()))["submissions"].iter_rows(
            values_only=True
        )
        written = "\n".join(",".join(str(cell) for cell in row) for row in rows)
    else:
        written = out.getvalue().decode("utf-8")
    assert phone["id"] in written
    assert "4155550199" not in written
    assert loaded["sms"]["respondent"] in written  # a pseudonym still is


def test_hidden_are_left_out_unless_asked(db: sqlite_utils.Database, loaded: dict) -> None:
    sid = loaded["kiosk"]["id"]
    moderation.moderate(db, sid, "hide", "abuse", "staff@example.org")
    assert sid not in {r["id"] for r in _csv(db)}
    rows = {r["id"]: r for r in _csv(db, filters=Filters(include_hidden=True))}
    assert rows[sid]["hidden"] == "1"
    plan = export.plan_export(db, "library-hours")
    assert sid not in "".join(export.jsonl_chunks(db, plan))


def test_filters_apply_to_exports(db: sqlite_utils.Database, loaded: dict) -> None:
    rows = _csv(db, filters=Filters(channel="sms"))
    assert [r["id"] for r in rows] == [loaded["sms"]["id"]]


def test_json_holds_every_version_used_and_the_records(
    db: sqlite_utils.Database, loaded: dict, tmp_path: Path
) -> None:
    # A new version of the consultation: the old submissions still name the old one.
    changed = EXAMPLE.read_text(encoding="utf-8").replace("Anything else?", "Anything more?")
    path = tmp_path / "v2.yaml"
    path.write_text(changed, encoding="utf-8")
    v2 = consultations.read_file(path)
    consultations.save(db, [v2])
    newer = record_submission(
        db, v2, {"visits": "weekly", "times": ["sundays"], "evenings": True, "rating": 5}
    )
    plan = export.plan_export(db, "library-hours")
    document = json.loads("".join(export.json_chunks(db, plan)))
    assert document["consultation"]["current_version"] == v2.version
    assert set(document["consultation"]["versions"]) == {
        loaded["kiosk"]["consultation_version"],
        v2.version,
    }
    records = {r["id"]: r for r in document["submissions"]}
    assert len(records) == 8
    # The stored record, and the questions it was not asked (none: this one has no rules).
    kiosk = submissions.get(db, loaded["kiosk"]["id"])
    assert records[loaded["kiosk"]["id"]] == {**kiosk, "not_asked": []}
    assert records[newer["id"]]["consultation_version"] == v2.version
    assert records[loaded["sms"]["id"]]["answers"] == {
        "visits": "rarely",
        "evenings": False,
        "rating": 2,
    }
    lines = "".join(export.jsonl_chunks(db, plan)).splitlines()
    assert [json.loads(line) for line in lines] == document["submissions"]


def test_codebook_lists_questions_and_choices_in_every_language(
    db: sqlite_utils.Database, loaded: dict, tmp_path: Path
) -> None:
    plan = export.plan_export(db, "library-hours")
    text = export.codebook_csv(plan)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert {"text_en", "text_fr"} <= set(rows[0])
    times = [r for r in rows if r["column"] == "times.sundays"]
    assert times[0]["text_en"] == "Sundays" and times[0]["text_fr"] == "Le dimanche"
    visits = [r for r in rows if r["question"] == "visits" and not r["choice"]][0]
    assert visits["text_fr"] == "Quelle est la fréquence de vos visites ?"
    export.write_xlsx(db, plan, tmp_path / "out.xlsx")
    workbook = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert workbook.sheetnames == ["submissions", "codebook"]
    codebook = list(workbook["codebook"].iter_rows(values_only=True))
    assert any(row[0] == "times.sundays" and "Le dimanche" in row for row in codebook)


def _bulk(db: sqlite_utils.Database, consultation: consultations.Consultation, count: int) -> None:
    now = clock.utcnow()
    answers = json.dumps(
        {
            "visits": "weekly",
            "times": ["mornings"],
            "evenings": True,
            "rating": 3,
            "comments": "x" * 200,
        }
    )
    with store.write(db):
        start = db.execute("SELECT coalesce(max(seq), 0) FROM submissions").fetchone()[0]
        db.conn.executemany(
            "INSERT INTO submissions (id, consultation_id, consultation_version, channel,"
            " device_id, seq, language, started_at, submitted_at, answers)"
            " VALUES (?, ?, ?, 'kiosk', 'dev-1',"
            " ?, 'en', ?, ?, ?)",
            [
                (
                    str(uuid.uuid4()),
                    consultation.id,
                    consultation.version,
                    start + i + 1,
                    now,
                    now,
                    answers,
                )
                for i in range(count)
            ],
        )


def _peak(db: sqlite_utils.Database, fmt: str) -> int:
    plan = export.plan_export(db, "library-hours")
    tracemalloc.start()
    try:
        if fmt == "xlsx":
            export.write_xlsx(db, plan, io.BytesIO())
        else:
            for _chunk in export.text_chunks(fmt, db, plan):
                pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_memory_stays_flat_as_exports_grow(
    db: sqlite_utils.Database, example: consultations.Consultation, fmt: str
) -> None:
    _bulk(db, example, 2000)
    small = _peak(db, fmt)
    _bulk(db, example, 18000)
    large = _peak(db, fmt)
    # Ten times the rows, nowhere near ten times the memory: one batch at a time.
    assert large < small * 1.5 + 200_000, (small, large)


def test_export_command_writes_each_format_and_the_codebook(
    db_path: Path, db: sqlite_utils.Database, loaded: dict, tmp_path: Path
) -> None:
    runner = CliRunner()
    for fmt in export.FORMATS:
        out = tmp_path / f"out.{fmt}"
        result = runner.invoke(
            main,
            [
                "export",
                "--db",
                str(db_path),
                "--consultation",
                "library-hours",
                "--format",
                fmt,
                "-o",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "Exported 7 submissions" in result.output
        assert out.exists() and not Path(str(out) + ".part").exists()
    assert (tmp_path / "out-codebook.csv").read_text(encoding="utf-8-sig").startswith("column,")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8-sig"))))
    assert len(rows) == 7
    assert json.loads((tmp_path / "out.json").read_text())["consultation"]["id"] == "library-hours"
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 7
    assert openpyxl.load_workbook(tmp_path / "out.xlsx")["submissions"].max_row == 8
    # No progress bar when stderr is not a terminal (here it is captured).
    assert "rows/s" not in result.output and "%|" not in result.output


def test_export_command_options_and_errors(
    db_path: Path, db: sqlite_utils.Database, loaded: dict, tmp_path: Path
) -> None:
    runner = CliRunner()
    moderation.moderate(db, loaded["kiosk"]["id"], "hide", "abuse", "s@example.org")
    base = ["export", "--db", str(db_path), "--consultation", "library-hours"]
    result = runner.invoke(
        main,
        [*base, "--format", "csv", "-o", "-", "--labels", "--language", "fr", "--include-hidden"],
    )
    assert result.exit_code == 0, result.output
    assert "Chaque semaine" in result.output and loaded["kiosk"]["id"] in result.output
    result = runner.invoke(main, [*base, "--format", "jsonl", "-o", "-"])
    assert loaded["kiosk"]["id"] not in result.output
    missing = runner.invoke(
        main,
        [
            "export",
            "--db",
            str(db_path),
            "--consultation",
            "nope",
            "--format",
            "csv",
            "-o",
            str(tmp_path / "x.csv"),
        ],
    )
    assert missing.exit_code == 1 and "no consultation 'nope'" in missing.output
    assert not (tmp_path / "x.csv").exists()
    no_store = runner.invoke(
        main,
        [
            "export",
            "--db",
            str(tmp_path / "none.db"),
            "--consultation",
            "x",
            "--format",
            "csv",
            "-o",
            str(tmp_path / "y.csv"),
        ],
    )
    assert no_store.exit_code == 1 and not (tmp_path / "none.db").exists()
    assert runner.invoke(main, [*base, "--format", "xlsx", "-o", "-"]).exit_code == 2
    assert runner.invoke(main, [*base, "--format", "pdf", "-o", "x"]).exit_code == 2
    assert (
        runner.invoke(main, [*base, "--format", "csv", "-o", "-", "--since", "soon"]).exit_code == 2
    )


def test_export_command_days_are_in_the_given_time_zone(
    db_path: Path, db: sqlite_utils.Database, loaded: dict
) -> None:
    late = "2026-12-01T23:30:00.000000Z"  # 2 December in Paris
    db.execute(
        "UPDATE submissions SET submitted_at = ? WHERE id = ?", [late, loaded["kiosk"]["id"]]
    )
    runner = CliRunner()
    base = ["export", "--db", str(db_path), "--consultation", "library-hours"]
    base += ["--format", "jsonl", "-o", "-", "--since", "2026-12-02", "--until", "2026-12-02"]
    in_paris = runner.invoke(main, [*base, "--timezone", "Europe/Paris"])
    assert in_paris.exit_code == 0, in_paris.output
    assert loaded["kiosk"]["id"] in in_paris.output
    assert loaded["kiosk"]["id"] not in runner.invoke(main, base).output
    unknown = runner.invoke(main, [*base, "--timezone", "Mars/Olympus"])
    assert unknown.exit_code == 2 and "Mars/Olympus" in unknown.output


def test_export_works_on_a_node_store(tmp_path: Path) -> None:
    from participate.app import create_app

    node_db = tmp_path / "node.db"
    create_app({"DATABASE": str(node_db), "ROLE": "node", "SECRET_KEY": "x", "DEVICE_ID": "dev-9"})
    with store.open_db(node_db) as db:
        consultation = consultations.read_file(EXAMPLE)
        consultations.save(db, [consultation])
        record_submission(
            db,
            consultation,
            {"visits": "weekly", "times": ["sundays"], "evenings": True, "rating": 1},
        )
    result = CliRunner().invoke(
        main,
        [
            "export",
            "--db",
            str(node_db),
            "--consultation",
            "library-hours",
            "--format",
            "jsonl",
            "-o",
            "-",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["device_id"] == "dev-9"


def test_csv_lines_match_the_cells_even_past_sqlite_argument_limits(
    db: sqlite_utils.Database,
) -> None:
    choices = [{"id": f"c{i}", "text": f'Choice, "{i}"'} for i in range(10)]
    questions = [
        {"id": f"m{n}", "type": "multi", "text": f"Question {n}", "choices": choices}
        for n in range(12)
    ] + [{"id": "t", "type": "text", "text": "Say", "required": False}]
    wide = consultations.parse({"id": "wide", "title": "Wide", "questions": questions})
    consultations.save(db, [wide])
    answers = {f"m{n}": [f"c{n % 9}", "c9"] for n in range(12)}
    record_submission(db, wide, {**answers, "t": 'a "quoted", multi\nline =answer'})
    for labels in (False, True):
        plan = export.plan_export(db, "wide", export.ExportOptions(labels=labels))
        assert len(plan.columns) > 127
        text = "".join(export.csv_chunks(db, plan))
        parsed = list(csv.reader(io.StringIO(text[1:])))
        sql, params = plan.table_query()
        cells = [["" if v is None else str(v) for v in row] for row in db.execute(sql, params)]
        assert parsed[0] == plan.header
        assert parsed[1:] == cells
        assert parsed[1][plan.header.index("m3.c3")] == "1"
        assert parsed[1][plan.header.index("m3.c4")] == "0"


def test_export_shows_a_progress_bar_only_on_a_terminal(
    db_path: Path, loaded: dict, tmp_path: Path
) -> None:
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    from tests.conftest import ROOT

    command = [
        sys.executable,
        "-m",
        "participate",
        "export",
        "--db",
        str(db_path),
        "--consultation",
        "library-hours",
        "--format",
        "jsonl",
        "-o",
        str(tmp_path / "o.jsonl"),
    ]
    leader, follower = pty.openpty()
    # A terminal 100 columns wide (a fresh pty reports 0, where tqdm draws nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    try:
        subprocess.run(
            command, stderr=follower, stdout=subprocess.DEVNULL, cwd=ROOT, check=True, timeout=60
        )
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    text = shown.decode("utf-8", "replace")
    assert "100%" in text and "7/7" in text and "rows" in text
    piped = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    )
    assert "100%" not in piped.stderr and "Exported 7 submissions" in piped.stderr


def test_xlsx_times_are_local_date_times_with_the_zone_in_the_header(
    db: sqlite_utils.Database, loaded: dict, tmp_path: Path
) -> None:
    options = export.ExportOptions(filters=Filters(timezone="America/Toronto"))
    plan = export.plan_export(db, "library-hours", options)
    export.write_xlsx(db, plan, tmp_path / "out.xlsx")
    rows = list(openpyxl.load_workbook(tmp_path / "out.xlsx")["submissions"].values)
    header = list(rows[0])
    for name in ("started_at", "submitted_at", "received_at"):
        assert f"{name} (America/Toronto)" in header
    column = header.index("submitted_at (America/Toronto)")
    by_id = {row[0]: row for row in rows[1:]}
    stored = loaded["kiosk"]["submitted_at"]
    cell = by_id[loaded["kiosk"]["id"]][column]
    assert isinstance(cell, datetime)
    expected = clock.parse(stored).astimezone(ZoneInfo("America/Toronto")).replace(tzinfo=None)
    assert cell == expected.replace(microsecond=cell.microsecond)
    assert cell.utcoffset() is None and cell != clock.parse(stored).replace(tzinfo=None)


def test_codebook_describes_metadata_in_each_language(
    app, db: sqlite_utils.Database, loaded: dict
) -> None:
    plan = export.plan_export(db, "library-hours")
    with app.test_request_context():
        rows = list(csv.DictReader(io.StringIO(export.codebook_csv(plan)[1:])))
    channel = next(row for row in rows if row["column"] == "channel")
    assert channel["text_en"] == "kiosk, sms or voice"
    assert channel["text_fr"] == "kiosk (borne), sms ou voice (appel)"
    language = next(row for row in rows if row["column"] == "language")
    assert language["text_fr"] == "Langue utilisée"


# --- skip logic: a question not asked is not a question left blank ---------------------

# (answers, the cells of lignes.l10, lignes.l55, eclairage, pourquoi, and `not_asked`)
RULED_ROWS = [
    (
        {"frequence": "daily", "lignes": ["l10"], "eclairage": False, "pourquoi": "Des lampes"},
        ("1", "0", "no", "Des lampes"),
        [],
    ),
    # Takes no bus: nothing about buses was asked.
    (
        {"frequence": "never"},
        ("not asked", "not asked", "not asked", "not asked"),
        ["lignes", "eclairage", "pourquoi"],
    ),
    # Takes the bus but left lines and lighting blank: blank, and pourquoi not asked.
    ({"frequence": "weekly"}, ("", "", "", "not asked"), ["pourquoi"]),
    ({"frequence": "weekly", "eclairage": True}, ("", "", "yes", "not asked"), ["pourquoi"]),
    # A text answer that reads like the marker is told apart from it.
    (
        {"frequence": "daily", "eclairage": False, "pourquoi": "not asked"},
        ("", "", "no", "'not asked"),
        [],
    ),
]


@pytest.fixture
def ruled(db: sqlite_utils.Database, tmp_path: Path) -> tuple[consultations.Consultation, list]:
    consultation = save_ruled(db, tmp_path)
    stored = [
        record_submission(db, consultation, {**answers, "note": 3})
        for answers, _cells, _not_asked in RULED_ROWS
    ]
    return consultation, stored


def test_csv_tells_a_question_not_asked_from_one_left_blank(
    db: sqlite_utils.Database, ruled: tuple
) -> None:
    _consultation, stored = ruled
    rows = {row["id"]: row for row in _csv(db, "arret")}
    for record, (_answers, cells, _not_asked) in zip(stored, RULED_ROWS, strict=True):
        row = rows[record["id"]]
        assert (row["lignes.l10"], row["lignes.l55"], row["eclairage"], row["pourquoi"]) == cells
        assert row["frequence"] == record["answers"]["frequence"] and row["note"] == "3"


def test_xlsx_tells_a_question_not_asked_from_one_left_blank(
    db: sqlite_utils.Database, ruled: tuple
) -> None:
    _consultation, stored = ruled
    out = io.BytesIO()
    export.write_xlsx(db, export.plan_export(db, "arret"), out)
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue()))["submissions"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    for record, (_answers, cells, _not_asked) in zip(stored, RULED_ROWS, strict=True):
        row = by_id[record["id"]]
        found = (row["lignes.l10"], row["lignes.l55"], row["eclairage"], row["pourquoi"])
        # Blank cells are empty (None) in a workbook; 0/1 are numbers.
        expected = tuple(
            None if cell == "" else int(cell) if cell in ("0", "1") else cell for cell in cells
        )
        assert found == expected


def test_json_and_jsonl_list_the_questions_not_asked(
    db: sqlite_utils.Database, ruled: tuple
) -> None:
    _consultation, stored = ruled
    plan = export.plan_export(db, "arret")
    document = json.loads("".join(export.json_chunks(db, plan)))
    records = {r["id"]: r for r in document["submissions"]}
    for record, (_answers, _cells, not_asked) in zip(stored, RULED_ROWS, strict=True):
        assert records[record["id"]] == {**record, "not_asked": not_asked}
    lines = "".join(export.jsonl_chunks(db, plan)).splitlines()
    assert [json.loads(line) for line in lines] == document["submissions"]
    # The rules travel with the definition, as staff wrote them.
    definition = document["consultation"]["versions"][plan.consultation.version]
    assert definition["questions"][3]["ask_if"] == {"question": "eclairage", "in": [False]}


def test_codebook_says_when_each_question_is_asked_and_what_not_asked_means(
    app, db: sqlite_utils.Database, ruled: tuple
) -> None:
    plan = export.plan_export(db, "arret")
    with app.test_request_context():
        rows = list(csv.DictReader(io.StringIO(export.codebook_csv(plan)[1:])))
    asked_if = {
        row["question"]: row["asked_if"]
        for row in rows
        if row["type"] not in ("metadata", "missing") and not row["choice"]
    }
    assert asked_if["frequence"] == "" and asked_if["note"] == ""
    assert asked_if["lignes"] == "Asked only if “frequence” is one of: daily, weekly."
    assert asked_if["pourquoi"] == "Asked only if “eclairage” is no."
    codes = {row["choice"]: row for row in rows if row["type"] == "missing"}
    assert "was not asked" in codes["not asked"]["text_en"]
    assert "n’a pas été posée" in codes["not asked"]["text_fr"]
    assert "left blank" in codes[""]["text_en"]
    # In French, when the export's language is French.
    french = export.plan_export(db, "arret", export.ExportOptions(language="fr"))
    with app.test_request_context():
        rows = list(csv.DictReader(io.StringIO(export.codebook_csv(french)[1:])))
    lignes = next(row for row in rows if row["question"] == "lignes" and row["column"] == "")
    assert lignes["asked_if"] == (
        "Posée seulement si la réponse à «\u00a0frequence\u00a0» est l’une de celles-ci\u00a0:"
        " daily, weekly."
    )


# Answers of every kind a rule can read, stored as they are (even ones validation would
# now refuse, such as an answer left behind by a changed mind): SQLite's reading of the
# rules in an export must agree with Consultation.asked.
RULES_ANSWERS = [
    {},
    {"q_choice": "a"},
    {"q_choice": "b", "q_multi": ["z"]},
    {"q_choice": "b", "q_multi": ["z", "y"]},
    {"q_choice": "a", "q_multi": ["x"], "q_yesno": True, "q_scale": 10},
    {"q_choice": "a", "q_multi": ["x"], "q_yesno": False, "q_scale": 3},
    {"q_choice": "a", "q_multi": ["y"], "q_yesno": True, "q_scale": 9, "q_number": 1.5},
    {"q_choice": "b", "q_scale": 10, "q_multi": ["z"]},
    {"q_choice": "b", "q_multi": ["x"], "q_yesno": 1},
]


def test_not_asked_in_exports_agrees_with_consultation_asked(
    db: sqlite_utils.Database, tmp_path: Path
) -> None:
    from tests.test_consultations import RULES

    consultation = consultations.parse(RULES, "rules")
    consultations.save(db, [consultation])
    with store.write(db):
        for n, answers in enumerate(RULES_ANSWERS):
            db.table("submissions").insert(
                {
                    "id": f"r{n}",
                    "consultation_id": consultation.id,
                    "consultation_version": consultation.version,
                    "channel": "kiosk",
                    "device_id": "d",
                    "seq": n + 1,
                    "language": "en",
                    "started_at": f"2026-12-01T10:{n:02d}:00.000000Z",
                    "submitted_at": f"2026-12-01T10:{n:02d}:00.000000Z",
                    "answers": json.dumps(answers),
                    "complete": 0,
                }
            )
    plan = export.plan_export(db, consultation.id)
    records = [json.loads(line) for line in "".join(export.jsonl_chunks(db, plan)).splitlines()]
    rows = _csv(db, consultation.id)
    for record, row, answers in zip(records, rows, RULES_ANSWERS, strict=True):
        asked = {q.id for q in consultation.asked(answers)}
        expected = [q.id for q in consultation.questions if q.ask_if and q.id not in asked]
        assert record["not_asked"] == expected, answers
        # The same questions read "not asked" in the CSV, and only those.
        marked = {name.split(".")[0] for name, cell in row.items() if cell == "not asked"}
        assert marked == set(expected), answers
