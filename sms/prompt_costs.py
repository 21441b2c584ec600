"""What each SMS prompt of a consultation costs: encoding, segments, the characters to blame."""

from __future__ import annotations

from participate.consultations import Consultation, localize

from . import prompts, segments


def _raw_texts(consultation: Consultation, lang: str) -> str:
    parts = [localize(consultation.title, lang), localize(consultation.intro, lang)]
    parts.append(localize(consultation.thanks, lang))
    for question in consultation.questions:
        parts.append(localize(question.text, lang))
        parts.extend(localize(choice.text, lang) for choice in question.choices)
        parts.extend(question.labels.get(lang, ()))
    return "".join(parts)


def prompt_texts(consultation: Consultation, lang: str) -> list[tuple[str, str]]:
    """Return (name, text) for every message a conversation in `lang` can send."""
    texts = [("welcome", prompts.welcome(consultation, lang))]
    for index, question in enumerate(consultation.questions):
        texts.append((question.id, prompts.question_prompt(consultation, index, lang)))
    texts.append(("thanks", prompts.thanks(consultation, lang)))
    return texts


def load_report(consultation: Consultation) -> list[str]:
    """Return one line per SMS prompt and language: encoding, segments, flagged characters."""
    lines = []
    for lang in consultation.languages:
        for name, text in prompt_texts(consultation, lang):
            lines.append(f"sms {lang} {name}: {segments.describe(text)}")
        raw = _raw_texts(consultation, lang)
        replaced = sorted({ch for ch in raw if segments.plain(ch) != ch})
        if replaced:
            shown = " ".join(repr(ch) for ch in replaced)
            lines.append(f"sms {lang}: typographic characters sent as plain ones: {shown}")
    return lines
