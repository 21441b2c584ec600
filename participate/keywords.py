"""Normalise short texts for matching, and the reserved SMS words every channel respects.

Keywords and SMS answers are matched ignoring case, accents and surrounding
punctuation; `normalize` is the one definition of that. The reserved words are here,
not in `sms/`, because loading a consultation must refuse a keyword that would be
swallowed by STOP, START or HELP handling.
"""

from __future__ import annotations

import string
import unicodedata

# Twilio's standard opt-out, opt-in and help keywords, plus the French ones.
OPT_OUT_WORDS = frozenset(
    {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "ARRET",
        "ARRETE",
    }
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "AIDE"})
SKIP_WORDS = frozenset({"SKIP", "PASSER"})
# Words that answer questions; a keyword equal to one would be ambiguous mid-conversation.
ANSWER_WORDS = frozenset({"YES", "NO", "OUI", "NON", "Y", "N", "O"})
RESERVED_WORDS = OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS | SKIP_WORDS | ANSWER_WORDS

_STRIP = string.punctuation + string.whitespace + "«»“”‘’¡¿…–—·"


def strip_accents(text: str) -> str:
    """Remove combining accents: 'Arrêt' becomes 'Arret'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Return `text` upper-cased, without accents, outer punctuation or repeated spaces."""
    plain = strip_accents(text).upper().strip(_STRIP)
    return " ".join(plain.split())
