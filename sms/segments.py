"""Measure SMS text: its encoding (GSM-7 or UCS-2), its segment count, what makes it costly.

One character outside the GSM-7 alphabet turns a whole message into UCS-2, which fits
70 characters in a segment instead of 160. `plain` replaces typographic quotes, dashes
and spaces (which phones and word processors insert silently) with their plain forms
before anything is sent; `measure` reports what remains. The GSM-7 alphabet comes from
the `gsm0338` codec; only the segment arithmetic is done here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7 = "GSM-7"
UCS2 = "UCS-2"
# Units in one segment, and in each part of a concatenated message (the rest is header).
SINGLE = {GSM7: 160, UCS2: 70}
PART = {GSM7: 153, UCS2: 67}
MAX_BODY = 1600  # Twilio's limit for one message body

_PLAIN = str.maketrans(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark (the typographic apostrophe)
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',  # « and », with the spaces French puts inside them kept as spaces
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",  # no-break space (French puts one before ? ! : ;)
        "\u202f": " ",  # narrow no-break space
        "\u2009": " ",
        "\u2007": " ",
        "\u200b": "",  # zero-width space
        "\u2022": "-",  # bullet
    }
)


@dataclass(frozen=True)
class Measure:
    """What a text costs as one SMS."""

    encoding: str
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    flagged: tuple[str, ...]  # characters that force UCS-2, each once, in order


def plain(text: str) -> str:
    """Return `text` with typographic quotes, dashes and spaces turned into plain ones."""
    return text.translate(_PLAIN)


@functools.lru_cache(maxsize=4096)
def gsm_width(char: str) -> int:
    """Return the septets `char` takes in GSM-7 (2 for the escaped ones), or 0 if it has none."""
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return 0


def _ucs2_width(char: str) -> int:
    return len(char.encode("utf-16-le")) // 2


def _flagged(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ch for ch in text if gsm_width(ch) == 0))


def measure(text: str) -> Measure:
    """Return the encoding, segment count and UCS-2-forcing characters of `text` as sent."""
    flagged = _flagged(text)
    encoding = UCS2 if flagged else GSM7
    units = sum(_width(ch, encoding) for ch in text)
    return Measure(encoding, len(split(text)), units, flagged)


def _width(char: str, encoding: str) -> int:
    return gsm_width(char) if encoding == GSM7 else _ucs2_width(char)


def split(text: str) -> list[str]:
    """Return `text` as the parts of the SMS that carry it: one, or those of a concatenated one."""
    encoding = UCS2 if _flagged(text) else GSM7
    widths = [_width(ch, encoding) for ch in text]
    if sum(widths) == 0:
        return []
    if sum(widths) <= SINGLE[encoding]:
        return [text]
    # A character (an escape pair, a surrogate pair) is never split across parts.
    parts, start, used = [], 0, 0
    for index, width in enumerate(widths):
        if used + width > PART[encoding]:
            parts.append(text[start:index])
            start, used = index, 0
        used += width
    parts.append(text[start:])
    return parts


def describe(text: str) -> str:
    """Summarise `text` for people: 'GSM-7, 1 segment' or 'UCS-2, 2 segments (because of: ç)'."""
    m = measure(text)
    summary = f"{m.encoding}, {m.segments} segment{'s' if m.segments != 1 else ''}"
    if m.flagged:
        summary += " (because of: " + " ".join(m.flagged) + ")"
    return summary
