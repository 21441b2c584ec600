"""Staff lists by keyset cursor and ranked search, read from tallies and indexes."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from flask import Flask
from flask.testing import FlaskClient

from participate import clock, consultations, schema, store, tallies
from participate.hub import moderation, results, users
from participate.hub.errors import FilterError
from tests.conftest import EXAMPLE, record_submission, save_ruled

START = datetime(2026, 11, 2, 9, tzinfo=UTC)
ANSWERS = '{"evenings": true, "rating": 3, "times": ["sundays"], "visits": "weekly"}'


def _add(db: sqlite_utils.Database, example, count: int, rng: random.Random, tag: str) -> None:
    """Store submissions at random times (some equal: ties are broken by id), as a hub would."""
    rows = []
    for n in range(count):
        moment = clock.to_text(START + timedelta(minutes=rng.randrange(0, 600)))
        comment = rng.choice(["open later please", "later on sundays", "quiet rooms", ""])
        answers = ANSWERS[:-1] + (f', "comments": "{comment} {tag}{n}"}}' if comment else "}")
        rows.append(
            {
                "id": f"{tag}-{n:04d}-{rng.getrandbits(32):08x}",
                "consultation_id": example.id,
                "consultation_version": example.version,
                "channel": rng.choice(["kiosk", "sms"]),
                "device_id": rng.choice(["dev-a", "dev-b"]),
                "seq": rng.getrandbits(48),
                "language": rng.choice(["en", "fr"]),
                "started_at": moment,
                "submitted_at": moment,
                "answers": answers,
                "complete": 1,
            }
        )
    with store.write(db):
        db.table("submissions").insert_all(rows)
        tallies.add(db, rows)


def _add_varied(db: sqlite_utils.Database, example, count: int, seed: int, tag: str) -> None:
    """`_add`, then a third of the store part-way and a quarter hidden, tallies recounted."""
    _add(db, example, count, random.Random(seed), tag)
    db.execute("UPDATE submissions SET complete = 0 WHERE rowid % 3 = 0")
    db.execute("UPDATE submissions SET hidden = 1 WHERE rowid % 4 = 0")
    tallies.rebuild(db)


def _walk(db, example, filters, size, between=None, direction=results.OLDER):
    """Page through a list to its end, calling `between` after each page; return the ids."""
    seen = []
    page = results.list_submissions(db, example.id, filters, size=size)
    while True:
        seen += [row["id"] for row in page.rows]
        if between:
            between()
        cursor = page.older if direction == results.OLDER else page.newer
        if cursor is None:
            return seen, page
        page = results.list_submissions(
            db, example.id, filters, cursor=cursor, direction=direction, size=size
        )


@pytest.mark.parametrize(
    "filters",
    [
        results.Filters(),
        results.Filters(device="dev-a"),
        results.Filters(channel="sms", language="fr"),
        results.Filters(since=START.date(), until=START.date()),
    ],
    ids=["all", "device", "channel+language", "dates"],
)
def test_keyset_paging_skips_nothing_and_repeats_nothing_while_new_ones_arrive(
    db: sqlite_utils.Database, example, filters: results.Filters
) -> None:
    rng = random.Random(5)
    _add(db, example, 230, rng, "old")
    before = results.list_submissions(db, example.id, filters, size=10_000).rows
    arrivals = iter(range(100))
    seen, _ = _walk(
        db, example, filters, 17, lambda: _add(db, example, 3, rng, f"new{next(arrivals)}-")
    )
    assert len(seen) == len(set(seen)), "a submission was shown twice"
    assert {row["id"] for row in before} <= set(seen), "a submission was skipped"
    # Newest first, in the list's order, across every page.
    order = {
        r["id"]: (r["submitted_at"], r["id"])
        for r in results.list_submissions(db, example.id, filters, size=100_000).rows
    }
    keys = [order[i] for i in seen]
    assert keys == sorted(keys, reverse=True)


def test_paging_back_newer_returns_the_same_pages(db: sqlite_utils.Database, example) -> None:
    _add(db, example, 95, random.Random(1), "s")
    older, last = _walk(db, example, results.Filters(), 20)
    newer, first = _walk(db, example, results.Filters(), 20, direction=results.NEWER)
    assert older[:20] == newer[:20]
    assert first.newer is None and last.older is None


def test_counts_come_from_the_tallies_and_search_says_more_than(
    db: sqlite_utils.Database, example, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(db, example, 120, random.Random(2), "c")
    page = results.list_submissions(db, example.id, results.Filters(device="dev-b"), size=5)
    expected = db.execute("SELECT count(*) FROM submissions WHERE device_id = 'dev-b'").fetchone()
    assert (page.total, page.total_is_floor) == (expected[0], False)
    monkeypatch.setattr(results, "SEARCH_LIMIT", 10)
    searched = results.list_submissions(db, example.id, results.Filters(search="later"), size=5)
    assert (searched.total, searched.total_is_floor) == (10, True)


def test_search_ranks_highlights_and_pages_without_repeats(
    db: sqlite_utils.Database, example
) -> None:
    _add(db, example, 150, random.Random(3), "f")
    filters = results.Filters(search="sundays")
    seen, _ = _walk(db, example, filters, 7)
    matching = {
        row[0]
        for row in db.execute(
            "SELECT id FROM submissions WHERE json_extract(answers, '$.comments') LIKE '%sundays%'"
        )
    }
    assert len(seen) == len(set(seen)) and set(seen) == matching
    page = results.list_submissions(db, example.id, filters, size=3)
    assert all(
        f"{results.MARK_START}sundays{results.MARK_END}" in row["snippet"] for row in page.rows
    )
    best_first = [
        row[0]
        for row in db.execute(
            "SELECT t.submission_id FROM submission_texts_fts f"
            " JOIN submission_texts t ON t.id = f.rowid"
            " WHERE submission_texts_fts MATCH '\"sundays\"*' ORDER BY f.rank, t.submission_id"
        )
    ]
    assert seen == best_first  # every page in bm25 order, best match first


@pytest.mark.parametrize(
    "filters",
    [
        results.Filters(),
        results.Filters(include_hidden=True),
        results.Filters(device="dev-a", complete=True),
        results.Filters(channel="sms", language="fr"),
        results.Filters(since=START.date(), until=START.date()),
        results.Filters(since=START.date() + timedelta(days=1)),
    ],
    ids=["all", "hidden too", "device+complete", "channel+language", "one day", "none"],
)
def test_the_overview_sums_the_kept_tallies_as_a_recount_would(
    db: sqlite_utils.Database, example, filters: results.Filters
) -> None:
    _add_varied(db, example, 90, 6, "v")
    kept = sorted((row for row in results._sums(db, example.id, filters) if row[2]), key=repr)
    every = replace(filters, include_hidden=True)
    recounted = results._summed(results._recounted(db, example.id, every), filters.include_hidden)
    assert kept == sorted(recounted, key=repr)


@pytest.mark.parametrize(
    "filters",
    [results.Filters(), results.Filters(channel="sms"), results.Filters(include_hidden=True)],
    ids=["all", "sms", "hidden too"],
)
def test_a_questions_text_search_gives_its_newest_matching_answers(
    db: sqlite_utils.Database, example, filters: results.Filters
) -> None:
    _add_varied(db, example, 150, 12, "t")
    found = results.text_answers(db, example.id, "comments", filters, "later", limit=20)
    expected = _expected(db, example, replace(filters, search="later"))
    times = [row["submitted_at"] for row in found]
    assert times == sorted(times, reverse=True) and len(found) == 20
    assert {row["id"] for row in found} <= expected
    # The 20 newest: none of those left out is newer than the oldest shown.
    when = dict(db.execute("SELECT id, submitted_at FROM submissions").fetchall())
    assert max(when[i] for i in expected - {row["id"] for row in found}) <= times[-1]
    assert all("later" in row["text"] for row in found)


def test_a_word_too_common_to_rank_lists_its_matches_newest_first(
    db: sqlite_utils.Database, example, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(db, example, 150, random.Random(4), "w")
    filters = results.Filters(search="later")
    assert results.list_submissions(db, example.id, filters, size=5).ranked
    # "later" is in about half of the 150 texts; "quiet" in about a quarter.
    monkeypatch.setattr(results, "RANK_WORD_LIMIT", 50)
    assert results.list_submissions(db, example.id, results.Filters(search="quiet")).ranked
    for search in ("later", "quiet later", "sundays later"):
        filters = results.Filters(search=search)
        seen, last = _walk(db, example, filters, 7)
        assert not last.ranked, search
        assert len(seen) == len(set(seen)) and set(seen) == _expected(db, example, filters)
        times = {r[0]: r[1] for r in db.execute("SELECT id, submitted_at FROM submissions")}
        assert [times[i] for i in seen] == sorted((times[i] for i in seen), reverse=True)


def _searched(db: sqlite_utils.Database, example, filters: results.Filters) -> set[str]:
    return {row["id"] for row in results.list_submissions(db, example.id, filters, size=1000).rows}


def _expected(db: sqlite_utils.Database, example, filters: results.Filters) -> set[str]:
    """What a search must find: the filtered submissions whose comment has every word."""
    where, params = replace(filters, search="").where(example.id)
    words = filters.search.split()
    return {
        row[0]
        for row in db.execute(
            f"SELECT s.id FROM submissions s WHERE {where}"  # noqa: S608
            + " AND json_extract(s.answers, '$.comments') LIKE ?" * len(words),
            [*params, *(f"%{word}%" for word in words)],
        )
    }


@pytest.mark.parametrize(
    "filters",
    [
        results.Filters(search="later"),
        results.Filters(search="later", device="dev-a"),
        results.Filters(search="later", channel="sms", language="fr"),
        results.Filters(search="sundays", since=START.date(), until=START.date()),
        results.Filters(search="quiet", complete=False),
        results.Filters(search="quiet", include_hidden=True),
    ],
    ids=["all", "device", "channel+language", "dates", "part-way", "hidden too"],
)
def test_search_keeps_to_the_filters_through_moderation_and_changes(
    db: sqlite_utils.Database, example, filters: results.Filters
) -> None:
    _add_varied(db, example, 120, 8, "m")
    assert _searched(db, example, filters) == _expected(db, example, filters)
    # Moderation hides and restores; a direct change of a filter column is followed too.
    shown = sorted(_expected(db, example, replace(filters, include_hidden=False)))
    for submission_id in shown[:4]:
        moderation.moderate(db, submission_id, "hide", "off topic", "staff@example.org")
    hidden = db.execute("SELECT id FROM submissions WHERE hidden = 1 LIMIT 3").fetchall()
    for (submission_id,) in hidden:
        moderation.moderate(db, submission_id, "unhide", "fine after all", "staff@example.org")
    db.execute(
        "UPDATE submissions SET device_id = 'dev-b', channel = 'kiosk', language = 'en',"
        " submitted_at = ? WHERE rowid % 7 = 0",
        [clock.to_text(START + timedelta(days=1))],
    )
    assert _searched(db, example, filters) == _expected(db, example, filters)


def test_the_migration_puts_the_filters_beside_texts_already_held(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with store.open_db(path) as db:
        schema.migrations.apply(db, stop_before="m018_search_filters")
        example = consultations.read_file(EXAMPLE)
        consultations._insert_version(db, example, "", clock.utcnow())
        _add(db, example, 40, random.Random(9), "o")
        db.execute("UPDATE submissions SET hidden = 1, complete = 0 WHERE rowid % 4 = 0")
    with store.open_db(path, migrate=True) as db:
        filters = results.Filters(search="later", channel="sms", complete=True)
        assert _searched(db, example, filters) == _expected(db, example, filters) != set()
        # A submission stored after the migration is searchable with its filters too.
        _add(db, example, 10, random.Random(10), "n")
        assert _searched(db, example, filters) == _expected(db, example, filters)


@pytest.mark.parametrize("cursor", ["%%%", "WyJ4Il0", "bm90IGpzb24", "WzEsIDJd"])
def test_a_damaged_cursor_is_refused(db: sqlite_utils.Database, example, cursor: str) -> None:
    with pytest.raises(FilterError):
        results.list_submissions(db, example.id, results.Filters(), cursor=cursor)


def test_the_list_and_counts_use_indexes_not_scans(db: sqlite_utils.Database, example) -> None:
    where, params = results.Filters(device="dev-a").where(example.id)
    plan = " ".join(
        row[3]
        for row in db.execute(
            f"EXPLAIN QUERY PLAN SELECT s.* FROM submissions s WHERE {where}"  # noqa: S608
            " AND (s.submitted_at, s.id) < (?, ?) ORDER BY s.submitted_at DESC, s.id DESC LIMIT 5",
            [*params, "2026", "x"],
        )
    )
    assert "USING INDEX submissions_consultation_device_time" in plan
    assert "TEMP B-TREE" not in plan


# --- skip logic: each question's base is who was asked it ------------------------------

NBSP = "\u00a0"
PASSWORD = "correct horse battery"


@pytest.fixture
def ruled(db: sqlite_utils.Database, tmp_path: Path) -> consultations.Consultation:
    """Five people: three take the bus (one finds the stop badly lit), two never do."""
    consultation = save_ruled(db, tmp_path)
    for answers in (
        {"frequence": "daily", "lignes": ["l10"], "eclairage": False, "pourquoi": "Des lampes"},
        {"frequence": "weekly", "lignes": ["l10", "l55"], "eclairage": True},
        {"frequence": "weekly"},
        {"frequence": "never"},
        {"frequence": "never"},
    ):
        record_submission(db, consultation, {**answers, "note": 4})
    users.create_user(db, "viewer@example.org", PASSWORD, "viewer")
    return consultation


def _by_id(found: list[results.QuestionResult]) -> dict[str, tuple[int, int, int, int]]:
    return {r.question.id: (r.asked, r.answered, r.skipped, r.not_asked) for r in found}


def test_each_question_counts_who_was_asked_it(db: sqlite_utils.Database, ruled) -> None:
    found = results.question_results(db, ruled, results.Filters(), "en")
    # (asked, answered, no answer, not asked)
    assert _by_id(found) == {
        "frequence": (5, 5, 0, 0),
        "lignes": (3, 2, 1, 2),
        "eclairage": (3, 2, 1, 2),
        "pourquoi": (1, 1, 0, 4),
        "note": (5, 5, 0, 0),
    }
    eclairage = next(r for r in found if r.question.id == "eclairage")
    assert [(bar.key, bar.count, bar.share) for bar in eclairage.bars] == [
        ("yes", 1, 0.5),
        ("no", 1, 0.5),
    ]
    # A search is counted from the rows, not the tallies: the same bases.
    searched = results.question_results(db, ruled, results.Filters(search="lampes"), "en")
    assert _by_id(searched)["pourquoi"] == (1, 1, 0, 0)
    assert _by_id(searched)["lignes"] == (1, 1, 0, 0)
    instants = results.Filters(submitted=((">=", "2000-01-01T00:00:00Z"),))
    assert _by_id(results.question_results(db, ruled, instants, "en")) == _by_id(found)
    # Hiding one who never takes the bus takes them out of the "not asked".
    never = db.execute(
        "SELECT id FROM submissions WHERE answers LIKE '%never%' ORDER BY id LIMIT 1"
    ).fetchone()[0]
    moderation.moderate(db, never, "hide", "testing", "staff@example.org")
    assert _by_id(results.question_results(db, ruled, results.Filters(), "en"))["lignes"] == (
        3,
        2,
        1,
        1,
    )


def _viewer(app: Flask) -> FlaskClient:
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/staff/login",
        data={"email": "viewer@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    return client


def test_the_results_page_says_who_was_asked_in_both_languages(app: Flask, ruled) -> None:
    client = _viewer(app)
    response = client.get("/staff/c/arret/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert (
        "Asked only if “How often do you take the bus?” is one of: Every day, Every week."
        " 3 people were asked this question (not asked: 2); the percentages are of those"
        " who answered (2)."
    ) in page
    assert "Asked only if “Is the stop well lit?” is No. 1 person was asked this question" in page
    assert "Not asked: 4" in page and "Not asked: 2" in page
    # A question asked of everyone says nothing of rules.
    note = page[page.index('id="q-note"') :]
    assert "Asked only if" not in note and "Not asked" not in note
    french = client.get("/staff/c/arret/?lang=fr").get_data(as_text=True)
    assert (
        f"Posée seulement si la réponse à «{NBSP}À quelle fréquence prenez-vous l’autobus ?{NBSP}»"
        f" est l’une de celles-ci{NBSP}: Chaque jour, Chaque semaine."
        f" 3 personnes ont reçu cette question (non posée{NBSP}: 2); les pourcentages"
        " portent sur les personnes qui ont répondu (2)."
    ) in french
    assert "Non posée" in french


def test_a_submission_says_which_questions_were_not_asked(app: Flask, ruled, db) -> None:
    client = _viewer(app)
    never = db.execute("SELECT id FROM submissions WHERE answers LIKE '%never%' LIMIT 1").fetchone()
    page = client.get(f"/staff/submissions/{never[0]}").get_data(as_text=True)
    # lignes, eclairage and pourquoi hang on frequence; the rating is asked of everyone.
    assert page.count("(not asked)") == 3
    weekly = db.execute(
        "SELECT id FROM submissions WHERE answers LIKE '%weekly%' AND answers NOT LIKE '%lignes%'"
    ).fetchone()
    page = client.get(f"/staff/submissions/{weekly[0]}?lang=fr").get_data(as_text=True)
    # Asked and left blank: lignes and eclairage; pourquoi hangs on a blank: not asked.
    assert page.count("(sans réponse)") == 2 and page.count("(question non posée)") == 1
