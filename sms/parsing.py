"""Read a texted answer forgivingly: '2', 'b', 'yes', 'oui', 'Every week', '1, 3', 'four'.

`parse_answer` turns the text of an SMS into the typed value `participate.answers`
validates (a choice id, a list of ids, a bool, a number, a string), or raises
AnswerError("unclear") so the channel can hint and ask again. It never decides whether
a value is acceptable (range, length, how many choices): the shared rules do.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from babel import UnknownLocaleError
from babel.numbers import get_group_symbol

from participate import answers
from participate.consultations import Question
from participate.errors import AnswerError
from participate.keywords import normalize, strip_accents

YES = frozenset({"YES", "Y", "YEAH", "YEP", "YUP", "OK", "OUI", "O", "OUAIS", "SI", "TRUE"})
NO = frozenset({"NO", "N", "NOPE", "NAH", "NON", "FALSE"})
# Small numbers written as words, so "four" or "quatre" answers a scale.
NUMBER_WORDS = {
    word: value
    for value, names in enumerate(
        [
            ("ZERO",),
            ("ONE", "UN", "UNE"),
            ("TWO", "DEUX"),
            ("THREE", "TROIS"),
            ("FOUR", "QUATRE"),
            ("FIVE", "CINQ"),
            ("SIX",),
            ("SEVEN", "SEPT"),
            ("EIGHT", "HUIT"),
            ("NINE", "NEUF"),
            ("TEN", "DIX"),
        ]
    )
    for word in names
}
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_LIST_SEPARATORS = re.compile(r"\s*(?:[,;/&+]|\bAND\b|\bET\b)\s*")
_WORD_ENDS = re.compile(r"[\s,.;:!?]+")
# "1,000" where a comma groups thousands (English), never 1.
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# A keycap emoji (1️⃣) is the digit, a variation selector and a combining keycap.
_KEYCAP = str.maketrans("", "", "\ufe0f\u20e3")


def unclear(question: Question) -> AnswerError:
    """Return the error for a text that does not read as an answer to `question`."""
    return AnswerError("unclear", "the answer was not understood", question=question.id)


def parse_answer(question: Question, text: str, lang: str = "en") -> Any:
    """Return the validated value a texted answer gives `question`, or raise AnswerError."""
    if question.type == "text":
        value = answers.validate_answer(question, text) if text.strip() else answers.SKIPPED
        if value is answers.SKIPPED:
            # An empty text is never a skip: skipping takes the word SKIP.
            raise unclear(question)
        return value
    text = text.translate(_KEYCAP)
    word = normalize(text)
    if question.type in ("number", "scale") and word:
        # Keep a sign and decimal point that `normalize` would strip from the ends.
        word = " ".join(strip_accents(text).upper().split()).rstrip(".!?")
        if _groups_with_comma(lang):
            word = _THOUSANDS.sub("", word)
    if not word:
        raise unclear(question)
    parser = _PARSERS[question.type]
    return answers.validate_answer(question, parser(question, word, lang))


def _choice_index(question: Question, token: str, lang: str) -> int | None:
    """Return the 0-based index a token names: its number, its letter, its text or its id."""
    count = len(question.choices)
    if token.isdigit():
        index = int(token) - 1
        return index if 0 <= index < count else None
    if len(token) == 1 and "A" <= token <= "Z":
        index = ord(token) - ord("A")
        return index if index < count else None
    for index, choice in enumerate(question.choices):
        names = {normalize(text) for text in choice.text.values()} | {normalize(choice.id)}
        if token in names:
            return index
    if token in NUMBER_WORDS:  # "two", "trois": a choice's own text came first
        index = NUMBER_WORDS[token] - 1
        return index if 0 <= index < count else None
    return None


def _choice(question: Question, word: str, lang: str) -> str:
    index = _choice_index(question, word, lang)
    if index is None:
        # "2 every month", "b) every month", "number 2": one number or letter somewhere.
        tokens = [t for t in re.split(r"[\s).:-]+", word) if t]
        picks = {i for t in tokens if (i := _choice_index(question, t, lang)) is not None}
        if len(picks) != 1 or not any(t.isdigit() or len(t) == 1 for t in tokens):
            raise unclear(question)
        index = picks.pop()
    return question.choices[index].id


def _multi(question: Question, word: str, lang: str) -> list[str]:
    whole = _choice_index(question, word, lang)
    if whole is not None:
        return [question.choices[whole].id]
    indexes: list[int] = []
    for part in _LIST_SEPARATORS.split(word):
        if not part:
            continue
        index = _choice_index(question, part, lang)
        if index is not None:
            indexes.append(index)
            continue
        for token in part.split():
            if token.isdigit() and len(token) > 1 and len(question.choices) < 10:
                # "13" with fewer than ten choices means 1 and 3.
                found = [_choice_index(question, digit, lang) for digit in token]
            else:
                found = [_choice_index(question, token, lang)]
            if None in found:
                raise unclear(question)
            indexes.extend(i for i in found if i is not None)
    if not indexes:
        raise unclear(question)
    # A repeated pick is a slip, not a second vote.
    return [question.choices[i].id for i in dict.fromkeys(indexes)]


def _yesno(question: Question, word: str, lang: str) -> bool:
    first = _WORD_ENDS.split(word)[0]  # "yes, please" and "non... merci" too
    if word in YES or first in YES:
        return True
    if word in NO or first in NO:
        return False
    raise unclear(question)


def _number(question: Question, word: str, lang: str) -> int | float:
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    if question.type == "scale":
        for value, label in _scale_labels(question):
            if word == label:
                return value
    found = _NUMBER.findall(word)
    if not found:
        words = [NUMBER_WORDS[t] for t in word.split() if t in NUMBER_WORDS]
        if len(words) == 1:
            return words[0]
        raise unclear(question)
    # "4/5" and "4 out of 5" mean 4; "between 10 and 20" is not one number.
    if len(found) > 1 and not re.fullmatch(r"\s*\d+\s*(?:/|OUT OF|SUR)\s*\d+\s*", word):
        raise unclear(question)
    raw = found[0].replace(",", ".")
    return int(raw) if re.fullmatch(r"[-+]?\d+", raw) else float(raw)


@functools.lru_cache(maxsize=32)
def _groups_with_comma(lang: str) -> bool:
    """Say whether `lang` writes 1,000 for a thousand (else a comma is a decimal point)."""
    try:
        return get_group_symbol(locale=lang or "en") == ","
    except (UnknownLocaleError, ValueError, TypeError):
        return False


def _scale_labels(question: Question) -> list[tuple[float, str]]:
    pairs = []
    for low, high in question.labels.values():
        pairs.append((question.min, normalize(low)))
        pairs.append((question.max, normalize(high)))
    return [(value, label) for value, label in pairs if value is not None]


_PARSERS = {
    "choice": _choice,
    "multi": _multi,
    "yesno": _yesno,
    "scale": _number,
    "number": _number,
}
