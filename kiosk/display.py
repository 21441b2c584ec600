"""What the kiosk shows people: answer errors in plain words, answers on the review screen.

Everything here calls gettext when the page renders, so it speaks the visit's language.
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from flask_babel import format_decimal, gettext

from participate.consultations import Question, localize
from participate.errors import AnswerError

# The on-screen keyboard's keys, one string a row (the last row, Capitals, @, Space and
# Delete, is the template's). Quebec types on QWERTY: the Canadian French layout has the
# English letter rows and adds the accented letters, and English-speaking Quebeckers
# write French names too (Hélène, Café), so both keyboards carry the accented row. A
# language without its own layout gets the English one.
QUEBEC = ("1234567890()", "qwertyuiop-", "asdfghjkl;:", "zxcvbnm,.'?!", "éèêëàâçîïôùûœ")
KEYBOARDS: dict[str, tuple[str, ...]] = {"en": QUEBEC, "fr": QUEBEC}
CHOOSING_TYPES = ("choice", "multi", "scale", "yesno")


def keyboard_rows(language: str) -> tuple[str, ...]:
    """Return the on-screen keyboard's rows of keys for a language."""
    return KEYBOARDS.get(language.split("-")[0], KEYBOARDS["en"])


def decimal_separator(language: str) -> str:
    """Return the decimal separator people write in `language`."""
    try:
        return Locale.parse(language).number_symbols["latn"]["decimal"]
    except (ValueError, KeyError, TypeError):
        return "."


def language_name(language: str) -> str:
    """Return a language's name written in that language, capitalised (e.g. "Français")."""
    try:
        name = Locale.parse(language).get_display_name(language) or language
    except (ValueError, TypeError):
        name = language
    return name[:1].upper() + name[1:]


def error_message(error: AnswerError, question: Question) -> str:
    """Say in plain words, in the visit's language, what is wrong with an answer."""
    code, params = error.code, error.params
    if code == "required":
        if question.type == "multi":
            return gettext("Please choose at least one answer.")
        if question.type in CHOOSING_TYPES:
            return gettext("Please choose an answer.")
        if question.type == "number":
            return gettext("Please enter a number.")
        return gettext("Please write an answer.")
    if code == "out_of_range":
        low, high = params.get("min", question.min), params.get("max", question.max)
        if low is not None and high is not None:
            return gettext(
                "Please enter a number from %(min)s to %(max)s.",
                min=format_number(low),
                max=format_number(high),
            )
        if low is not None:
            return gettext("Please enter a number of at least %(min)s.", min=format_number(low))
        return gettext("Please enter a number of at most %(max)s.", max=format_number(high))
    if code == "not_integer":
        return gettext("Please enter a whole number.")
    if code == "too_long":
        return gettext(
            "Please shorten your answer to %(max)s characters or fewer.", max=params.get("max")
        )
    if code == "too_few":
        return gettext("Please choose at least %(min)s.", min=params.get("min"))
    if code == "too_many":
        return gettext("Please choose at most %(max)s.", max=params.get("max"))
    if question.type == "number":
        return gettext("Please enter a number, using only digits.")
    if question.type == "text":
        return gettext("Please write your answer as text.")
    return gettext("That answer is not one of the options. Please choose again.")


def format_number(value: float | int) -> str:
    """Format a number for the visit's language (a decimal comma in French)."""
    return format_decimal(value) if isinstance(value, float) else str(value)


def answer_text(question: Question, value: Any, language: str) -> str:
    """Return an answer as the review screen shows it, in the visit's language."""
    if value is None:
        return gettext("Not answered yet") if question.required else gettext("Skipped")
    if question.type == "choice":
        choice = question.choice(value)
        return localize(choice.text, language) if choice else str(value)
    if question.type == "multi":
        return ", ".join(chosen_texts(question, value, language))
    if question.type == "yesno":
        return gettext("Yes") if value else gettext("No")
    if question.type == "scale":
        # A bare "4" says little on its own: give the top of the scale with it.
        return gettext(
            "%(value)s out of %(max)s", value=format_number(value), max=format_number(question.max)
        )
    if question.type == "number":
        return format_number(value)
    return str(value)


def chosen_texts(question: Question, value: list[str], language: str) -> list[str]:
    """Return the texts of the choices a multiple-choice answer holds, in the question's order."""
    return [localize(c.text, language) for c in question.choices if c.id in value]


def form_values(question: Question, value: Any) -> list[str]:
    """Return a stored answer as the strings its form fields hold."""
    if value is None:
        return []
    if question.type == "multi":
        return list(value)
    if question.type == "yesno":
        return ["yes" if value else "no"]
    if isinstance(value, float):
        return [format_number(value)]
    return [str(value)]
