"""What a call says: the language menu, the intro, each question with its keys, the hints.

Consultation texts come from the consultation (`localize`); the words around them from
this package's catalog. Twilio speaks them with `<Say>` in the caller's language (fr-CA,
en-CA).
"""

from __future__ import annotations

from participate.consultations import Consultation, Question, localize

from .texts import _, in_language

# The menu is said in both languages, each in its own voice, before a language is known.
LANGUAGE_MENU = {"en": "For English, press 1.", "fr": "Pour le français, appuyez sur le 2."}
MENU_KEYS = {"1": "en", "2": "fr"}
# Said in both languages, before a language is known.
UNAVAILABLE = {
    "closed": {
        "en": "Sorry, this survey cannot be answered by phone right now. Goodbye.",
        "fr": "Désolé, ce sondage ne peut pas être rempli par téléphone en ce moment. Au revoir.",
    },
    "hidden_number": {
        "en": "Sorry, we can only take answers from a phone whose number is not hidden. Goodbye.",
        "fr": "Désolé, nous acceptons seulement les réponses d'un numéro qui n'est pas masqué."
        " Au revoir.",
    },
}
# Twilio's text-to-speech language for each consultation language.
SAY_LANGUAGES = {"en": "en-CA", "fr": "fr-CA"}


def unavailable(reason: str) -> dict[str, str]:
    """Return why no survey can be taken (`closed`, `hidden_number`), in both languages."""
    return UNAVAILABLE[reason]


def say_language(lang: str) -> str:
    """Return the `<Say language>` for a consultation language."""
    return SAY_LANGUAGES.get(lang, lang)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def single_key(question: Question) -> bool:
    """Say whether one key answers the question (else the caller ends with the pound key)."""
    if question.type in ("choice", "multi"):
        return len(question.choices) <= 8  # 9 stays the opt-out key
    if question.type == "yesno":
        return True
    if question.type == "scale":
        return (
            question.min is not None
            and question.max is not None
            and question.min >= 0
            and question.max <= 8
        )
    return False


def intro(consultation: Consultation, lang: str, *, resumed: bool) -> str:
    """Return what a call says once the language is chosen: welcome, or welcome back."""
    with in_language(lang):
        if resumed:
            return _("Welcome back. We continue where you left off.")
        title = localize(consultation.title, lang).strip()
        parts = [title + ("" if title[-1:] in ".!?" else "."), localize(consultation.intro, lang)]
        parts.append(
            _(
                "Answer with your phone's keypad. Press star to hear a question again,"
                " or 9 to stop receiving our invitations."
            )
        )
    return " ".join(part for part in parts if part)


def question(question: Question, lang: str) -> str:
    """Return a question as it is said: its text, its help, and which keys answer it."""
    with in_language(lang):
        parts = [localize(question.text, lang), localize(question.help, lang)]
        parts += _keys(question, lang)
        if not question.required:
            parts.append(_("To skip this question, press the pound key."))
    return " ".join(part.strip() for part in parts if part and part.strip())


def _keys(question: Question, lang: str) -> list[str]:
    if question.type in ("choice", "multi"):
        lines = [
            _("For %(choice)s, press %(key)s.", choice=localize(c.text, lang), key=n)
            for n, c in enumerate(question.choices, start=1)
        ]
        if question.type == "multi":
            lines.insert(
                0, _("Press the key of each answer that fits, one at a time, then the pound key.")
            )
        elif not single_key(question):
            lines.append(_("Then press the pound key."))
        return lines
    if question.type == "yesno":
        return [_("For yes, press 1. For no, press 2.")]
    low, high = _number(question.min), _number(question.max)
    if question.type == "scale":
        lines = [_("Press a number from %(min)s to %(max)s.", min=low, max=high)]
        labels = question.labels.get(lang) if question.labels else None
        if labels:
            lines.append(
                _(
                    "%(min)s means %(low)s, %(max)s means %(high)s.",
                    min=low,
                    max=high,
                    low=labels[0],
                    high=labels[1],
                )
            )
        if not single_key(question):
            lines.append(_("Then press the pound key."))
        return lines
    if question.type == "number":
        if question.min is not None and question.max is not None:
            lines = [
                _(
                    "Enter a number from %(min)s to %(max)s, then press the pound key.",
                    min=low,
                    max=high,
                )
            ]
        else:
            lines = [_("Enter a number, then press the pound key.")]
        if not question.integer:
            lines.append(_("For a decimal point, press star."))
        return lines
    return [_("Please say your answer after the tone, then press the pound key.")]


def added(choice_text: str, lang: str) -> str:
    """Return the confirmation of one choice of a multi-choice question."""
    with in_language(lang):
        return _(
            "Added: %(choice)s. Press another key, or the pound key to finish.", choice=choice_text
        )


def invalid(lang: str) -> str:
    """Return the hint for a key that does not answer the question."""
    with in_language(lang):
        return _("Sorry, that key does not answer this question.")


def no_input(lang: str) -> str:
    """Return the hint when the caller pressed nothing."""
    with in_language(lang):
        return _("We did not hear a key.")


def menu_invalid() -> dict[str, str]:
    """Return the language menu's hint, in both languages."""
    return {"en": "Sorry, please press 1 or 2.", "fr": "Désolé, appuyez sur 1 ou 2."}


def give_up(lang: str) -> str:
    """Return the goodbye after three unclear answers to a required question."""
    with in_language(lang):
        return _(
            "We could not understand your keys. Your answers so far are kept:"
            " call again to continue. Goodbye."
        )


def opted_out(lang: str) -> str:
    """Return the goodbye after the caller pressed 9."""
    with in_language(lang):
        return _(
            "You will not receive our invitations any more. Your answers so far are kept. Goodbye."
        )


def closed(lang: str) -> str:
    """Return the goodbye when the consultation closed during the call."""
    with in_language(lang):
        return _("This survey is now closed. Your answers so far are kept. Goodbye.")


def thanks(consultation: Consultation, lang: str) -> str:
    """Return the consultation's thanks, or a plain one, then goodbye."""
    with in_language(lang):
        text = localize(consultation.thanks, lang) or _("Thank you, your answers were saved.")
        return f"{text} {_('Goodbye.')}"
