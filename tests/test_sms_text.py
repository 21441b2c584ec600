"""SMS text: segments and encodings, forgiving answer parsing, phone numbers, the load report."""

from __future__ import annotations

import pytest

from participate import consultations
from participate.errors import AnswerError
from participate.sms import load_report, phones, segments
from participate.sms.errors import InvalidNumber
from participate.sms.parsing import parse_answer
from tests.conftest import EXAMPLE


@pytest.fixture(scope="module")
def questions() -> dict:
    consultation = consultations.read_file(EXAMPLE)
    return {q.id: q for q in consultation.questions}


@pytest.mark.parametrize(
    "text, encoding, count",
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("é" * 160, "GSM-7", 1),  # é, è, à, ù, É are in the GSM-7 alphabet
        ("€" * 80, "GSM-7", 1),  # escaped characters take two septets
        ("€" * 81, "GSM-7", 2),
        ("a" * 152 + "€", "GSM-7", 1),
        ("a" * 159 + "€", "GSM-7", 2),
        ("ç" + "a" * 69, "UCS-2", 1),
        ("ç" + "a" * 70, "UCS-2", 2),
        ("ê" * 134, "UCS-2", 2),
        ("ê" * 135, "UCS-2", 3),
        ("😀" * 35, "UCS-2", 1),  # a surrogate pair takes two UTF-16 units
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_measure_encoding_and_segments(text, encoding, count) -> None:
    measured = segments.measure(text)
    assert (measured.encoding, measured.segments) == (encoding, count)


def test_an_escape_pair_or_surrogate_pair_is_never_split() -> None:
    # 152 septets, then "€" (2 septets) would straddle the 153-septet part boundary.
    assert segments.measure("a" * 152 + "€" + "a" * 10).segments == 2
    assert segments.measure("a" * 152 + "€" + "a" * 152).segments == 3
    assert segments.measure("a" * 66 + "😀" + "ç" * 10).segments == 2


def test_flagged_characters_are_listed_once_in_order() -> None:
    measured = segments.measure("Ça va ? Ça va ! Très bien, à bientôt")
    assert measured.flagged == ("ô",)  # Ç is GSM-7; ô is not
    assert segments.measure("français, fête, âge").flagged == ("ç", "ê", "â")
    assert segments.describe("fête") == "UCS-2, 1 segment (because of: ê)"
    assert segments.describe("fete") == "GSM-7, 1 segment"


def test_plain_turns_typography_into_gsm7() -> None:
    text = "L’heure « d’été » — 9 h–17 h… \u00a0?"
    assert segments.plain(text) == "L'heure \" d'été \" - 9 h-17 h...  ?"
    assert segments.measure(segments.plain(text)).encoding == "GSM-7"
    assert segments.measure(text).encoding == "UCS-2"


@pytest.mark.parametrize(
    "question, text, value",
    [
        ("visits", "1", "weekly"),
        ("visits", " 2. ", "monthly"),
        ("visits", "#3", "rarely"),
        ("visits", "B", "monthly"),
        ("visits", "c)", "rarely"),
        ("visits", "every week", "weekly"),
        ("visits", "EVERY MONTH!", "monthly"),
        ("visits", "Chaque semaine", "weekly"),
        ("visits", "rarement", "rarely"),
        ("visits", "2) every month", "monthly"),
        ("times", "1,3", ["mornings", "sundays"]),
        ("times", "3, 1", ["mornings", "sundays"]),
        ("times", "1 2", ["mornings", "evenings"]),
        ("times", "13", ["mornings", "sundays"]),
        ("times", "a & b", ["mornings", "evenings"]),
        ("times", "evenings and sundays", ["evenings", "sundays"]),
        ("times", "le soir et le dimanche", ["evenings", "sundays"]),
        ("times", "2,2", ["evenings"]),
        ("evenings", "yes", True),
        ("evenings", "Y", True),
        ("evenings", "oui!", True),
        ("evenings", "yes please", True),
        ("evenings", "NO", False),
        ("evenings", "non merci", False),
        ("evenings", "Yes, please", True),
        ("evenings", "Oui, merci !", True),
        ("evenings", "No, thanks.", False),
        ("evenings", "Non... merci", False),
        ("visits", "two", "monthly"),
        ("visits", "Trois", "rarely"),
        ("visits", "1\ufe0f\u20e3", "weekly"),  # the keycap emoji 1️⃣
        ("times", "one and three", ["mornings", "sundays"]),
        ("times", "un, deux", ["mornings", "evenings"]),
        ("rating", "4", 4),
        ("rating", "4/5", 4),
        ("rating", "4 out of 5", 4),
        ("rating", "four", 4),
        ("rating", "quatre", 4),
        ("rating", "Very good", 5),
        ("rating", "très mauvais", 1),
        ("hours_per_week", "12", 12),
        ("hours_per_week", "about 6 hours", 6),
        ("hours_per_week", "0", 0),
        ("comments", "  keep it open late  ", "keep it open late"),
        ("comments", "Ça va 👍", "Ça va 👍"),
    ],
)
def test_forgiving_parsing(questions, question, text, value) -> None:
    assert parse_answer(questions[question], text) == value


@pytest.mark.parametrize(
    "question, text, code",
    [
        ("visits", "4", "unclear"),
        ("visits", "maybe", "unclear"),
        ("visits", "", "unclear"),
        ("visits", "1 or 2", "unclear"),
        ("times", "1,4", "unclear"),
        ("times", "whenever", "unclear"),
        ("evenings", "perhaps", "unclear"),
        ("rating", "7", "out_of_range"),
        ("rating", "0", "out_of_range"),
        ("rating", "between 2 and 3", "unclear"),
        ("rating", "great", "unclear"),
        ("hours_per_week", "2.5", "not_integer"),
        ("hours_per_week", "-5", "out_of_range"),
        ("hours_per_week", "10-20", "unclear"),
        ("hours_per_week", "lots", "unclear"),
        ("hours_per_week", "1,000", "out_of_range"),  # a thousand in English, never 1
        ("comments", "", "unclear"),
        ("comments", "x" * 501, "too_long"),
    ],
)
def test_unparseable_or_invalid_answers(questions, question, text, code) -> None:
    with pytest.raises(AnswerError) as caught:
        parse_answer(questions[question], text)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "raw, e164",
    [
        ("+1 (555) 555-0123", "+15555550123"),
        ("555-555-0123", "+15555550123"),
        ("+33 6 12 34 56 78", "+33612345678"),
    ],
)
def test_numbers_become_e164(raw, e164) -> None:
    assert phones.to_e164(raw, "US") == e164


@pytest.mark.parametrize("raw", ["", "hello", "12", "+1" + "9" * 30])
def test_bad_numbers_are_refused(raw) -> None:
    with pytest.raises(InvalidNumber):
        phones.to_e164(raw, "US")


@pytest.mark.parametrize(
    "text, redacted",
    [
        ("The 'To' number +15555550123 is not valid.", "The 'To' number [number] is not valid."),
        ("call +1 (555) 555-0123 now", "call [number] now"),
        ("+33 6 12 34 56 78", "[number]"),
        (
            "error 21211 at 10:30, see /docs/errors/21211",
            "error 21211 at 10:30, see /docs/errors/21211",
        ),
    ],
)
def test_numbers_are_redacted_from_text(text, redacted) -> None:
    assert phones.redact(text) == redacted


def test_strict_numbers_must_be_in_service() -> None:
    assert phones.to_e164("+1 415 555 2671", "US", strict=True) == "+14155552671"
    with pytest.raises(InvalidNumber):
        phones.to_e164("+1 555 555 0123", "US", strict=True)  # 555 is not a real area code


def test_load_report_flags_ucs2_prompts_per_language() -> None:
    definition = consultations.read_file(EXAMPLE).definition
    definition["questions"][0]["text"]["fr"] = "À quelle fréquence venez-vous ?"
    lines = load_report(consultations.parse(definition))
    assert "sms en welcome: GSM-7, 1 segment" in lines
    assert "sms en visits: GSM-7, 1 segment" in lines
    assert "sms fr visits: UCS-2, 2 segments (because of: À)" in lines
    assert "sms fr thanks: GSM-7, 1 segment" in lines
    # Every prompt, in every language: welcome, six questions, thanks.
    assert len([line for line in lines if line.startswith("sms en ")]) == 8
    assert len([line for line in lines if line.startswith("sms fr ")]) == 8


def test_load_report_names_typographic_characters() -> None:
    consultation = consultations.parse(
        {
            "id": "quotes",
            "title": "Park’s future",
            "languages": ["en"],
            "questions": [{"id": "q", "type": "text", "text": "What’s “best” — and why?"}],
        }
    )
    lines = load_report(consultation)
    assert "sms en q: GSM-7, 1 segment" in lines
    assert any(
        "typographic characters sent as plain ones" in line and "’" in line for line in lines
    )


def test_french_sms_texts_avoid_characters_that_force_ucs2() -> None:
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    root = EXAMPLE.parent.parent
    sent = set()  # the texts of messages (from sms/*.py), not of the simulator page
    for path in sorted((root / "sms").glob("*.py")):
        for _lineno, message, _comments, _context in extract_from_file("python", path):
            sent.add(message)
    with (root / "participate/translations/fr/LC_MESSAGES/sms.po").open("rb") as handle:
        catalog = read_po(handle)
    checked = [m.string for m in catalog if m.id in sent]
    assert len(checked) == len(sent) > 20
    for text in checked:
        # As sent: sms/prompts.py makes the catalog's typography plain (the no-break
        # spaces Quebec French puts before a colon and inside « » are not GSM-7).
        assert segments.measure(segments.plain(text)).encoding == "GSM-7", text
