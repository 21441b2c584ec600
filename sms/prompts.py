"""What the channel says: questions as short numbered texts, hints, help and confirmations.

Consultation texts come from the consultation (`localize`); the words around them come
from this package's catalog. Everything is passed through `segments.plain`, so a
typographic apostrophe never turns a reply into UCS-2. Replies are written to fit one
GSM-7 segment where the consultation's own text allows it (French: no ç, ê, â, î, ô, û
in the catalog's texts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from participate.consultations import Consultation, Question, localize

from . import segments
from .texts import _, in_language


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def instruction(question: Question, lang: str) -> str:
    """Return the one-line 'how to reply' for a question, in `lang`."""
    with in_language(lang):
        if question.type == "choice":
            line = _("Reply with a number from 1 to %(n)s.", n=len(question.choices))
        elif question.type == "multi":
            line = _("Reply with one or more numbers, e.g. 1,3.")
        elif question.type == "yesno":
            line = _("Reply YES or NO.")
        elif question.type == "scale":
            labels = question.labels.get(lang) or next(iter(question.labels.values()), None)
            low, high = _number(question.min), _number(question.max)
            if labels:
                line = _(
                    "Reply %(min)s (%(low)s) to %(max)s (%(high)s).",
                    min=low,
                    max=high,
                    low=labels[0],
                    high=labels[1],
                )
            else:
                line = _("Reply with a number from %(min)s to %(max)s.", min=low, max=high)
        elif question.type == "number":
            if question.min is not None and question.max is not None:
                line = _(
                    "Reply with a number from %(min)s to %(max)s.",
                    min=_number(question.min),
                    max=_number(question.max),
                )
            else:
                line = _("Reply with a number.")
        else:
            line = ""
        if not question.required:
            line = (line + " " + _("Or SKIP.")).strip()
    return line


_PROMPTS: dict[tuple[str, str, int, str, int, int], str] = {}


def progress(
    consultation: Consultation, index: int, answers: Mapping[str, Any] | None = None
) -> tuple[int, int]:
    """Return the "2/6" of question number `index`: its place among the questions put to
    someone with these `answers` so far, and how many may be put in all.

    The questions before `index` were reached (answered, skipped or left unasked by their
    rule); one hanging on a question not reached yet counts as maybe asked, so the total
    only shrinks as answers come in. Without `answers`, every question counts (the costs
    `participate load` reports)."""
    if answers is None:
        return index + 1, len(consultation.questions)
    reached = {q.id for q in consultation.questions[:index]}
    asked = [q.id for q in consultation.asked(answers, reached=reached)]
    before = sum(1 for q in consultation.questions[:index] if q.id in asked)
    total = len(asked)
    if consultation.questions[index].id not in asked:  # not asked after all: never sent
        total += 1
    return before + 1, total


def question_prompt(
    consultation: Consultation, index: int, lang: str, answers: Mapping[str, Any] | None = None
) -> str:
    """Return question number `index` as one SMS: its text, numbered choices, how to reply.

    Its number ("2/6") counts the questions put to someone with these `answers` so far
    (see `progress`)."""
    number, total = progress(consultation, index, answers)
    # A version's definition never changes, nor do the catalogs while running: cache.
    key = (consultation.id, consultation.version, index, lang, number, total)
    prompt = _PROMPTS.get(key)
    if prompt is None:
        if len(_PROMPTS) > 4096:
            _PROMPTS.clear()
        prompt = _PROMPTS[key] = _question_prompt(consultation, index, lang, number, total)
    return prompt


def _question_prompt(
    consultation: Consultation, index: int, lang: str, number: int, total: int
) -> str:
    question = consultation.questions[index]
    lines = [f"{number}/{total} {localize(question.text, lang)}"]
    for choice_number, choice in enumerate(question.choices, start=1):
        lines.append(f"{choice_number}) {localize(choice.text, lang)}")
    how = instruction(question, lang)
    if how:
        lines.append(how)
    return segments.plain("\n".join(lines))


def welcome(consultation: Consultation, lang: str) -> str:
    """Return the first reply's opening: the title, the intro, and how to stop or get help."""
    with in_language(lang):
        stop = _("Reply STOP to stop, HELP for help.")
    title = localize(consultation.title, lang)
    intro = localize(consultation.intro, lang) if consultation.intro else ""
    return segments.plain(" ".join(part for part in (f"{title}.", intro, stop) if part))


def thanks(consultation: Consultation, lang: str) -> str:
    """Return the last reply: the consultation's thanks, or the catalog's."""
    if consultation.thanks:
        return segments.plain(localize(consultation.thanks, lang))
    with in_language(lang):
        return _("Thank you! Your answers were saved.")


def results_offer(lang: str) -> str:
    """Return the question sent after the thanks when a consultation texts its results."""
    with in_language(lang):
        return _("Reply YES to get a text when the results are published.")


def results_answer(accepted: bool, lang: str) -> str:
    """Return the confirmation of a YES (number kept for that text only) or a NO."""
    with in_language(lang):
        if accepted:
            return _("Thanks. We will text you the results once, then forget your number.")
        return _("OK, no text about the results.")


def hint(code: str, lang: str, params: dict | None = None) -> str:
    """Return the short hint for an answer the channel could not use."""
    params = params or {}
    with in_language(lang):
        if code == "too_long":
            return _("Please keep it under %(max)s characters.", max=params.get("max", ""))
        if code == "too_many":
            return _("Choose at most %(max)s.", max=params.get("max", ""))
        if code == "too_few":
            return _("Choose at least %(min)s.", min=params.get("min", ""))
        if code == "required":
            return _("This question needs an answer.")
        if code == "no_text":
            return _("We can only read text.")
        if code == "out_of_range":
            return _("That number is out of range.")
        if code == "not_integer":
            return _("Please reply with a whole number.")
        return _("Sorry, we did not understand.")


def keyword(consultation: Consultation, lang: str) -> str | None:
    """Return the keyword to advertise in `lang`: its own first, else the first there is."""
    own = consultation.keywords.get(lang) or next(iter(consultation.keywords.values()), ())
    return own[0] if own else None


def help_idle(keywords: list[str], lang: str) -> str:
    """Return help outside a conversation: which keywords start one."""
    with in_language(lang):
        if not keywords:
            return _("No consultation is open right now. Reply STOP to stop.")
        return _(
            "Text %(keywords)s to take part. Reply STOP to stop.",
            keywords=_or(keywords),
        )


def _or(keywords: list[str]) -> str:
    shown = keywords[:3]
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " " + _("or") + " " + shown[-1]


def help_in_conversation(consultation: Consultation, lang: str) -> str:
    """Return help during a conversation: what it is and how to leave it."""
    with in_language(lang):
        return segments.plain(
            _(
                "%(title)s: answer below, or STOP to stop.",
                title=localize(consultation.title, lang),
            )
        )


def opted_out(lang: str) -> str:
    """Return the confirmation of an opt-out."""
    with in_language(lang):
        return _("You will get no more messages from us. Reply START to opt back in.")


def opted_in(lang: str) -> str:
    """Return the confirmation of an opt-in."""
    with in_language(lang):
        return _("You can get messages from us again. Reply STOP to opt out.")


def opted_out_keyword(keyword: str, lang: str) -> str:
    """Return the only reply an opted-out number gets to a keyword: how to opt back in."""
    with in_language(lang):
        return _(
            "You opted out of our messages. Reply START, then %(keyword)s, to take part.",
            keyword=keyword,
        )


def closed(consultation: Consultation, lang: str) -> str:
    """Return the reply when a conversation's consultation stopped taking answers."""
    with in_language(lang):
        return segments.plain(
            _(
                "%(title)s: this consultation is closed. Your answers so far were kept.",
                title=localize(consultation.title, lang),
            )
        )


def keyword_closed(consultation: Consultation, lang: str, *, not_yet: bool = False) -> str:
    """Return the reply to a keyword whose consultation takes no answers: closed (by its
    dates or by staff), or not open yet. One segment: without the title if it makes two."""
    title = localize(consultation.title, lang)
    with in_language(lang):
        if not_yet:
            text = _("%(title)s: this consultation is not open yet.", title=title)
            short = _("This consultation is not open yet.")
        else:
            text = _("%(title)s: this consultation is closed.", title=title)
            short = _("This consultation is closed.")
    text = segments.plain(text)
    return text if segments.measure(text).segments == 1 else short


def invitation(consultation: Consultation, keyword: str, lang: str) -> str:
    """Return an invitation to take part, naming the keyword to text."""
    with in_language(lang):
        text = _(
            "%(title)s: %(intro)s Text %(keyword)s to take part. Reply STOP to opt out.",
            title=localize(consultation.title, lang),
            intro=localize(consultation.intro, lang) if consultation.intro else "",
            keyword=keyword,
        )
    return segments.plain(" ".join(text.split()))


def reminder(consultation: Consultation, keyword: str, lang: str) -> str:
    """Return a reminder for someone invited who has not finished."""
    with in_language(lang):
        return segments.plain(
            _(
                "Reminder: %(title)s. Text %(keyword)s to take part. Reply STOP to opt out.",
                title=localize(consultation.title, lang),
                keyword=keyword,
            )
        )
