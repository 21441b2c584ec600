"""Cross-tabulation: counts and row percentages by two questions or by channel, language
and device, equal to a recount from the export; on the results page and as CSV."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import date, timedelta

import pytest
import sqlite_utils
from flask import Flask

from participate import consultations, tallies
from participate.hub import crosstab, export, moderation, users
from participate.hub.errors import FilterError
from participate.hub.results import Filters
from participate.sync import devices
from tests.conftest import record_submission, save_ruled

PASSWORD = "correct horse battery"
VISITS = ["weekly", "monthly", "rarely"]


@pytest.fixture
def many(db: sqlite_utils.Database, example: consultations.Consultation) -> list[dict]:
    """Record 120 varied submissions from two kiosks and SMS, in English and French."""
    pick = random.Random(17)
    kiosks = [devices.add_device(db, name)[0] for name in ("Bibliothèque Frontenac", "Mile End")]
    recorded = []
    for _ in range(120):
        answers: dict = {}
        if pick.random() < 0.9:
            answers["visits"] = pick.choice(VISITS)
        if pick.random() < 0.85:
            answers["evenings"] = pick.random() < 0.6
        if pick.random() < 0.8:
            answers["rating"] = pick.randint(1, 5)
        channel = pick.choice(["kiosk", "sms"])
        record = record_submission(
            db,
            example,
            answers,
            channel=channel,
            language=pick.choice(["en", "fr"]),
            respondent="p-1" if channel == "sms" else "",
            complete=False,
        )
        recorded.append(record)
    for record in recorded:  # as if synced from one of the two kiosks
        if record["channel"] == "kiosk":
            db.execute(
                "UPDATE submissions SET device_id = ? WHERE id = ?",
                [pick.choice(kiosks), record["id"]],
            )
    db.conn.commit()
    tallies.rebuild(db)  # the kept counts follow the submissions moved above
    return recorded


def _recount(db: sqlite_utils.Database, row: str, column: str, **filters) -> Counter:
    """Count pairs of cells in the CSV export (labels in English), both present."""
    options = export.ExportOptions(filters=Filters(**filters), labels=True, language="en")
    plan = export.plan_export(db, "library-hours", options)
    text = "".join(export.csv_chunks(db, plan))
    names = {"device": "device_id"}
    pairs: Counter = Counter()
    for record in csv.DictReader(io.StringIO(text[1:])):
        r, c = record[names.get(row, row)], record[names.get(column, column)]
        if r and c:
            pairs[r, c] += 1
    return pairs


def _as_labels(table: crosstab.CrossTab, devices_by_name: dict[str, str]) -> Counter:
    ids = {label: value for value, label in table.row_values}
    cols = {label: value for value, label in table.column_values}
    counts: Counter = Counter()
    for row_label, row in ids.items():
        for column_label, column in cols.items():
            if table.count(row, column):
                key = (devices_by_name.get(row_label, row_label),) + (
                    devices_by_name.get(column_label, column_label),
                )
                counts[key] = table.count(row, column)
    return counts


@pytest.mark.parametrize(
    ("row", "column", "filters"),
    [
        ("visits", "evenings", {}),
        ("rating", "visits", {}),
        ("evenings", "channel", {}),
        ("visits", "language", {"channel": "kiosk"}),
        ("rating", "device", {"language": "fr"}),
        ("channel", "language", {}),
        ("device", "channel", {"complete": False}),
    ],
)
def test_crosstab_equals_a_recount_from_the_export(
    app: Flask, db: sqlite_utils.Database, many: list, row: str, column: str, filters: dict
) -> None:
    consultation = consultations.get(db, "library-hours")
    with app.test_request_context():
        table = crosstab.crosstab(db, consultation, Filters(**filters), row, column, "en")
    by_name = {name: device_id for device_id, name in _device_names(db).items()}
    # The export writes channel and language codes and device ids: map the labels back.
    by_name.update({"Kiosk": "kiosk", "SMS": "sms", "English": "en", "French": "fr"})
    assert _as_labels(table, by_name) == _recount(db, row, column, **filters)
    assert table.total == sum(_recount(db, row, column, **filters).values()) > 0
    for value, _label in table.row_values:
        if table.row_total(value):
            shares = [table.share(value, c) for c, _ in table.column_values]
            assert sum(shares) == pytest.approx(1.0)


def _device_names(db: sqlite_utils.Database) -> dict[str, str]:
    return {row["id"]: row["name"] for row in db.query("SELECT id, name FROM devices")}


def test_crosstab_refuses_unknown_or_identical_dimensions(
    app: Flask, db: sqlite_utils.Database, many: list
) -> None:
    consultation = consultations.get(db, "library-hours")
    with app.test_request_context():
        for row, column in [("comments", "channel"), ("visits", "visits"), ("nope", "channel")]:
            with pytest.raises(FilterError):
                crosstab.crosstab(db, consultation, Filters(), row, column, "en")


def test_results_page_shows_the_crosstab_and_its_csv_matches(
    app: Flask, db: sqlite_utils.Database, many: list
) -> None:
    users.create_user(db, "staff@example.org", PASSWORD, "staff")
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/staff/login",
        data={"email": "staff@example.org", "password": PASSWORD, "csrf_token": token},
    )
    url = "/staff/c/library-hours/?channel=kiosk&xrow=visits&xcol=device"
    page = client.get(url).get_data(as_text=True)
    assert "Bibliothèque Frontenac" in page and "Mile End" in page
    assert "crosstab.csv?" in page and "channel=kiosk" in page
    response = client.get(
        "/staff/c/library-hours/crosstab.csv?channel=kiosk&xrow=visits&xcol=device"
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True)[1:])))
    header, body = rows[0], rows[1 : 1 + len(VISITS)]
    assert header[1:3] == ["Bibliothèque Frontenac", "Mile End"]
    recount = _recount(db, "visits", "device", channel="kiosk")
    names = _device_names(db)
    by_name = {name: device_id for device_id, name in names.items()}
    for line in body:
        for device_name, cell in zip(header[1:3], line[1:3], strict=True):
            assert int(cell) == recount[line[0], by_name[device_name]]
    assert client.get(url.replace("xcol=device", "xcol=visits")).status_code == 400


def test_a_question_with_a_rule_is_crossed_among_those_asked_and_the_page_says_so(
    app: Flask, db: sqlite_utils.Database, tmp_path
) -> None:
    consultation = save_ruled(db, tmp_path)
    for answers in (
        {"frequence": "daily", "eclairage": False},
        {"frequence": "weekly", "eclairage": True},
        {"frequence": "weekly", "eclairage": True},
        {"frequence": "never"},
    ):
        record_submission(db, consultation, {**answers, "note": 4})
    table = crosstab.crosstab(db, consultation, Filters(), "eclairage", "frequence", "en")
    assert table.total == 3  # the one who never takes the bus was not asked
    assert table.count(1, "weekly") == 2 and table.row_total(0) == 1
    users.create_user(db, "staff@example.org", PASSWORD, "staff")
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/staff/login",
        data={"email": "staff@example.org", "password": PASSWORD, "csrf_token": token},
    )
    page = client.get("/staff/c/arret/?xrow=eclairage&xcol=frequence").get_data(as_text=True)
    assert (
        "Is the stop well lit?: Asked only if “How often do you take the bus?” is one of:"
        " Every day, Every week. Only the people asked it are counted."
    ) in page


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("visits", "channel"),
        ("evenings", "device"),
        ("language", "rating"),
        ("channel", "language"),
        ("device", "language"),
    ],
)
@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(include_hidden=True),
        Filters(channel="sms", language="fr"),
        Filters(since=date.today() - timedelta(days=1), until=date.today() + timedelta(days=1)),
        Filters(until=date.today() - timedelta(days=1)),
    ],
    ids=["all", "hidden too", "channel+language", "these days", "no day"],
)
def test_crosstab_with_a_detail_reads_the_tallies_and_gives_what_the_rows_give(
    app: Flask,
    db: sqlite_utils.Database,
    many: list,
    monkeypatch: pytest.MonkeyPatch,
    row: str,
    column: str,
    filters: Filters,
) -> None:
    """A question crossed with the channel, language or device, or two of those, is summed
    from the kept tallies (cost independent of the submissions); it equals the count of
    the submissions themselves, cell for cell and value for value."""
    for record in many[::7]:
        moderation.moderate(db, record["id"], "hide", "off topic", "staff@example.org")
    consultation = consultations.get(db, "library-hours")
    with app.test_request_context():
        pair = _pair(db, row, column)
        assert crosstab._from_tallies(db, consultation.id, filters, *pair) is not None
        kept = crosstab.crosstab(db, consultation, filters, row, column, "en")
        monkeypatch.setattr(crosstab, "_from_tallies", lambda *args: None)
        counted = crosstab.crosstab(db, consultation, filters, row, column, "en")
    assert kept.counts == counted.counts
    assert (kept.row_values, kept.column_values) == (counted.row_values, counted.column_values)


def test_two_questions_are_crossed_from_the_submissions(
    app: Flask, db: sqlite_utils.Database, many: list
) -> None:
    with app.test_request_context():
        pair = _pair(db, "visits", "rating")
        assert crosstab._from_tallies(db, "library-hours", Filters(), *pair) is None


def _pair(db: sqlite_utils.Database, row: str, column: str) -> list[crosstab.Dimension]:
    choices = crosstab.dimensions(consultations.get(db, "library-hours"), "en")
    return [crosstab._dimension(choices, key) for key in (row, column)]
