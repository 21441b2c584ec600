"""The consultation report staff take to council: what the results page shows, on paper.

`build` gathers it once, in one or two languages, from the results functions (the same
filters, tallies and names as the results page); the print page
(templates/hub/report.html) and the PDF (hub/report_pdf.py) only lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from flask_babel import force_locale
from flask_babel import gettext as _

from participate.consultations import Consultation, localize

from . import labels, quotes, results
from .results import Filters, Overview, QuestionResult


@dataclass
class QuestionReport:
    """One question, in each report language: its text, results and quotes."""

    number: int
    id: str
    kind: str  # "bars", "histogram" or "text"
    text: dict[str, str]
    asked: int
    answered: int
    mean: float | None
    rows: dict[str, list[tuple[str, int, float]]]  # by language: (label, count, share)
    quotes: list[dict[str, Any]] = field(default_factory=list)
    not_asked: int = 0
    rule: str = ""  # when it is asked, if it has a rule (the interface language's words)


@dataclass
class Report:
    consultation: Consultation
    languages: tuple[str, ...]
    filters: Filters
    summary: Overview
    by_channel: dict[str, list[tuple[str, int]]]
    by_language: dict[str, list[tuple[str, int]]]
    by_device: list[tuple[str, int]]
    questions: list[QuestionReport]

    def title(self, language: str) -> str:
        """Return the consultation's title in `language`."""
        return localize(self.consultation.title, language)

    @property
    def period(self) -> tuple[str, str]:
        """Return the first and last day counted (filters win over the consultation's dates)."""
        days = [day for day, count in self.summary.by_day if count]
        first = self.filters.since or self.consultation.opens
        last = self.filters.until or self.consultation.closes
        return (
            str(first or (days[0] if days else "")),
            str(last or (days[-1] if days else "")),
        )


def report_languages(consultation: Consultation, wanted: str, both: bool) -> tuple[str, ...]:
    """Return the report's languages: the staff one, or it and the consultation's others."""
    first = consultation.language(wanted)
    if not both:
        return (first,)
    return (first, *(lang for lang in consultation.languages if lang != first))


def _rows(result: QuestionResult) -> list[tuple[str, int, float]]:
    return [(bar.label, bar.count, bar.share) for bar in result.bars]


def build(
    db: sqlite_utils.Database,
    consultation: Consultation,
    filters: Filters,
    languages: tuple[str, ...],
) -> Report:
    """Gather the report of a consultation over the filtered submissions."""
    summary = results.overview(db, consultation.id, filters)
    devices = labels.device_names(db)
    tallied = {
        language: results.question_results(db, consultation, filters, language)
        for language in languages
    }
    chosen = quotes.quotes(db, consultation.id, filters)
    questions = []
    first = tallied[languages[0]]
    for number, result in enumerate(first, start=1):
        question = result.question
        questions.append(
            QuestionReport(
                number=number,
                id=question.id,
                kind=result.kind,
                text={lang: localize(question.text, lang) for lang in languages},
                asked=result.asked,
                answered=result.answered,
                mean=result.mean,
                rows={lang: _rows(tallied[lang][number - 1]) for lang in languages},
                quotes=chosen.get(question.id, []),
                not_asked=result.not_asked,
                rule=results.rule_text(consultation, question, languages[0]),
            )
        )
    by_channel, by_language = {}, {}
    for language in languages:
        with force_locale(language):
            by_channel[language] = [(labels.channel_label(k), n) for k, n in summary.by_channel]
            by_language[language] = [(labels.language_label(k), n) for k, n in summary.by_language]
    return Report(
        consultation=consultation,
        languages=languages,
        filters=filters,
        summary=summary,
        by_channel=by_channel,
        by_language=by_language,
        by_device=[(labels.device_label(k, devices), n) for k, n in summary.by_device],
        questions=questions,
    )


def base_text(question: QuestionReport) -> str:
    """Return a question's base in the current language: "asked of 812, answered by 790",
    and for a question with a rule, when it was asked and of how many it was not."""
    if not question.rule:
        return _(
            "asked of %(asked)d, answered by %(answered)d",
            asked=question.asked,
            answered=question.answered,
        )
    return (
        question.rule
        + " "
        + _(
            "Asked of %(asked)d, answered by %(answered)d, not asked of %(not_asked)d.",
            asked=question.asked,
            answered=question.answered,
            not_asked=question.not_asked,
        )
    )
