"""The SMS conversation of a consultation as a phone shows it, for the staff's preview.

Each message the conversation can send (the welcome, every question, the thanks) with
its encoding and segment count, the characters that force UCS-2 (70 characters a segment
instead of 160) and, where one exists, the GSM-7 text that would avoid it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from participate.consultations import Consultation, Rule

from . import segments
from .prompt_costs import prompt_texts

# Letters GSM-7 lacks that have a usual plain spelling; others lose their accent.
_SPELLED = {"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"}


@dataclass(frozen=True)
class PreviewMessage:
    """One message of the conversation, measured as the gateway sends it."""

    name: str  # "welcome", a question's id, or "thanks"
    text: str
    encoding: str  # segments.GSM7 or segments.UCS2
    segments: int
    flagged: tuple[str, ...]  # the characters that force UCS-2, each once
    replacements: tuple[tuple[str, str], ...]  # (character, its GSM-7 spelling)
    alternative: str | None  # the text in GSM-7, when every flagged character has a spelling
    alternative_segments: int | None
    ask_if: Rule | None = None  # a question sent only when an earlier answer matches


def gsm_spelling(char: str) -> str | None:
    """Return a GSM-7 way to write `char` (ê as e, œ as oe), or None when there is none."""
    spelled = _SPELLED.get(char)
    if spelled is None:
        base = "".join(
            c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
        )
        spelled = base if base and base != char else None
    if spelled and all(segments.gsm_width(c) for c in spelled):
        return spelled
    return None


def measure_message(name: str, text: str, ask_if: Rule | None = None) -> PreviewMessage:
    """Measure one message and find its GSM-7 alternative."""
    measured = segments.measure(text)
    replacements = tuple(
        (char, spelled) for char in measured.flagged if (spelled := gsm_spelling(char))
    )
    alternative = None
    if measured.flagged and len(replacements) == len(measured.flagged):
        alternative = text.translate(str.maketrans(dict(replacements)))
    return PreviewMessage(
        name=name,
        text=text,
        encoding=measured.encoding,
        segments=measured.segments,
        flagged=measured.flagged,
        replacements=replacements,
        alternative=alternative,
        alternative_segments=segments.measure(alternative).segments if alternative else None,
        ask_if=ask_if,
    )


def preview_conversation(consultation: Consultation, lang: str) -> list[PreviewMessage]:
    """Return every message a conversation in `lang` can send, in order, measured."""
    rules = {q.id: q.ask_if for q in consultation.questions}
    return [
        measure_message(name, text, rules.get(name) if name not in ("welcome", "thanks") else None)
        for name, text in prompt_texts(consultation, lang)
    ]


def total_segments(messages: Sequence[PreviewMessage]) -> tuple[int, int]:
    """Return the segments of a whole conversation: the least (every skippable question
    skipped) and the most (every question asked)."""
    most = sum(m.segments for m in messages)
    least = sum(m.segments for m in messages if m.ask_if is None)
    return least, most
