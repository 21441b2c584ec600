"""Questions read aloud, offline: text to small Ogg Opus files, rendered once and cached.

A node renders the audio itself with Debian's `espeak-ng` (speech) and `opusenc` (from
`opus-tools`: Opus at 16 kbit/s, about 2.5 kB a second of speech) when a consultation
version arrives (`participate load` into its store; after a sync pull, the kiosk's
render job within a minute), so a kiosk reads its questions aloud with the network
unplugged. Renders run at the lowest CPU priority, one at a time. Files are cached in a
folder beside the store, named by a hash of the text, the voice and the speed: a text
that did not change is never rendered again, and one that changed gets a new file.
Where `espeak-ng` (or an encoder) is missing, nothing is rendered, `available()` says
so, and the kiosk simply shows no Listen button; the node's heartbeat tells the hub.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from participate.consultations import Consultation, Question, localize

log = logging.getLogger(__name__)

AUDIO_SUFFIX = ".audio"
SPEEDS = {"normal": 160, "slow": 115}  # espeak-ng words a minute
# espeak-ng voice per consultation language. Its French voice is France's: no fr-CA voice
# ships with espeak-ng itself (the fr-ca ones need MBROLA); American English is closer to
# Canadian English than the default British voice.
VOICES = {"en": "en-us", "fr": "fr"}
# The few words around a consultation's own text, per language (the core has no catalog).
WORDS = {
    "en": {"yes": "Yes", "no": "No", "range": "From {low} to {high}.", "optional": ""},
    "fr": {"yes": "Oui", "no": "Non", "range": "De {low} à {high}.", "optional": ""},
}
TIMEOUT_SECONDS = 30
_render_lock = threading.Lock()


class SpeechUnavailable(Exception):
    """espeak-ng or an encoder is missing here: no audio can be rendered."""


@dataclass(frozen=True)
class Item:
    """One text a screen reads aloud: `key` names it in a URL (`intro`, `q-visits`, `thanks`)."""

    key: str
    text: str


def engine() -> tuple[str, str] | None:
    """Return the paths of espeak-ng and the encoder used here, or None if either is missing."""
    speaker = shutil.which("espeak-ng")
    encoder = shutil.which("opusenc") or shutil.which("sox")
    return (speaker, encoder) if speaker and encoder else None


def available() -> bool:
    """Say whether this machine can render audio (espeak-ng and an Ogg encoder installed)."""
    return engine() is not None


def audio_dir(database: str | Path) -> Path:
    """Return the folder beside the store where rendered audio is cached."""
    database = Path(database)
    return database.with_name(database.name + AUDIO_SUFFIX)


def audio_dir_of(db: sqlite_utils.Database) -> Path | None:
    """Return the audio folder of an open store (None for an in-memory one)."""
    row = db.execute("PRAGMA database_list").fetchone()
    return audio_dir(row[2]) if row and row[2] else None


def voice_for(language: str) -> str:
    """Return the espeak-ng voice for a consultation language (its own code if unknown)."""
    return VOICES.get(language, language)


def cache_name(text: str, language: str, speed: str) -> str:
    """Return the cached file's name for a text, read by a voice at a speed."""
    digest = hashlib.sha256(f"{voice_for(language)}\0{speed}\0{text}".encode()).hexdigest()
    return f"{digest[:32]}.ogg"


def _words(language: str) -> dict[str, str]:
    return WORDS.get(language, WORDS["en"])


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def question_text(question: Question, language: str) -> str:
    """Return what the kiosk reads for a question: the question, its help, its choices."""
    words = _words(language)
    parts = [localize(question.text, language), localize(question.help, language)]
    if question.type in ("choice", "multi"):
        parts += [localize(choice.text, language) + "." for choice in question.choices]
    elif question.type == "yesno":
        parts += [words["yes"] + ".", words["no"] + "."]
    elif question.type == "scale":
        parts.append(words["range"].format(low=_number(question.min), high=_number(question.max)))
        labels = question.labels.get(language) if question.labels else None
        if labels:
            parts += [
                f"{_number(question.min)}: {labels[0]}.",
                f"{_number(question.max)}: {labels[1]}.",
            ]
    return " ".join(part.strip() for part in parts if part and part.strip())


def items(consultation: Consultation, language: str) -> list[Item]:
    """Return every text of a consultation that a kiosk reads aloud, in `language`."""
    title = localize(consultation.title, language).strip()
    if title and title[-1] not in ".!?":
        title += "."  # a pause between the title and the intro
    intro = " ".join(t for t in (title, localize(consultation.intro, language)) if t)
    found = [Item("intro", intro)] if intro else []
    found += [Item(f"q-{q.id}", question_text(q, language)) for q in consultation.questions]
    thanks = localize(consultation.thanks, language)
    if thanks:
        found.append(Item("thanks", thanks))
    return found


def item(consultation: Consultation, language: str, key: str) -> Item | None:
    """Return one read-aloud text of a consultation by its key, or None."""
    return next((found for found in items(consultation, language) if found.key == key), None)


def cached(folder: Path, text: str, language: str, speed: str = "normal") -> Path | None:
    """Return the cached file for a text if it was rendered already, else None."""
    path = folder / cache_name(text, language, speed)
    return path if path.is_file() else None


def render(folder: Path, text: str, language: str, speed: str = "normal") -> Path:
    """Return the audio file for a text, rendering it first if it is not cached."""
    if speed not in SPEEDS:
        raise ValueError(f"unknown speed {speed!r}")
    path = folder / cache_name(text, language, speed)
    if path.is_file():
        return path
    tools = engine()
    if tools is None:
        raise SpeechUnavailable("espeak-ng or an Ogg encoder (opusenc, sox) is not installed")
    with _render_lock:  # one render at a time: a small kiosk PC has one or two cores
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            _render_to(path, text, language, speed, tools)
    return path


def _niced(command: list[str]) -> list[str]:
    # Rendering runs beside a kiosk serving visitors and a sync loop: it takes what is left.
    nice = shutil.which("nice")
    return [nice, "-n", "19", *command] if nice else command


def _render_to(path: Path, text: str, language: str, speed: str, tools: tuple[str, str]) -> None:
    speaker, encoder = tools
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        wav = Path(scratch) / "speech.wav"
        out = Path(scratch) / "speech.ogg"
        voice = ["-v", voice_for(language), "-s", str(SPEEDS[speed])]
        # The text goes on standard input, never on the command line: it is the staff's
        # content and may begin with a dash.
        subprocess.run(
            _niced([speaker, *voice, "-w", str(wav), "--stdin"]),
            input=text.encode("utf-8"),
            check=True,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
        )
        if Path(encoder).name == "opusenc":
            command = [encoder, "--quiet", "--speech", "--bitrate", "16", str(wav), str(out)]
        else:  # sox writes Ogg Vorbis where opus-tools is missing
            command = [encoder, str(wav), "-C", "0", str(out)]
        subprocess.run(_niced(command), check=True, capture_output=True, timeout=TIMEOUT_SECONDS)
        os.replace(out, path)


def prepare(folder: Path, consultation: Consultation) -> int:
    """Render every read-aloud text of a consultation, each language and speed; count new files."""
    if not available():
        log.info("speech.unavailable", extra={"consultation": consultation.id})
        return 0
    rendered = 0
    for language, found, speed in _everything(consultation):
        if cached(folder, found.text, language, speed) is None:
            try:
                render(folder, found.text, language, speed)
            except (subprocess.SubprocessError, OSError) as error:
                log.error(
                    "speech.render_failed",
                    extra={"consultation": consultation.id, "item": found.key, "error": str(error)},
                )
                continue
            rendered += 1
    if rendered:
        log.info(
            "speech.rendered",
            extra={
                "consultation": consultation.id,
                "version": consultation.version,
                "files": rendered,
            },
        )
    return rendered


def _everything(consultation: Consultation) -> Iterator[tuple[str, Item, str]]:
    for language in consultation.languages:
        for found in items(consultation, language):
            for speed in SPEEDS:
                yield language, found, speed
