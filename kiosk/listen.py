"""Read aloud: the audio a kiosk screen offers with its Listen button, served from the node.

The files are rendered by `participate.speech` when a consultation version arrives; a
file missing from the cache (a version loaded before espeak-ng was installed) is rendered
on first request. Where espeak-ng is missing and nothing is cached, `read_aloud` returns
None and the screen shows no Listen button: the kiosk works as before.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, request, send_file, url_for

from participate import consultations, speech, store
from participate.consultations import Consultation
from participate.errors import NotFound

bp = Blueprint("kiosk_audio", __name__)

# The audio of a version never changes (its texts are fixed), so a browser may keep it.
MAX_AGE_SECONDS = 7 * 24 * 3600


def _folder() -> Any:
    return speech.audio_dir(current_app.config["DATABASE"])


def read_aloud(consultation: Consultation, language: str, key: str) -> dict[str, Any] | None:
    """Return the audio URLs (normal and slower) of one screen's text, or None if there is none."""
    found = speech.item(consultation, language, key)
    if found is None:
        return None
    if not speech.available() and speech.cached(_folder(), found.text, language) is None:
        return None
    values = {
        "consultation_id": consultation.id,
        "version": consultation.version,
        "language": language,
        "key": key,
    }
    return {
        "normal": url_for("kiosk_audio.audio", **values),
        "slow": url_for("kiosk_audio.audio", speed="slow", **values),
        "autoplay": bool(current_app.config["KIOSK_READ_ALOUD_ON_ARRIVAL"]),
    }


@bp.get("/audio/<consultation_id>/<version>/<language>/<key>.ogg")
def audio(consultation_id: str, version: str, language: str, key: str) -> Any:
    """Send one screen's audio (Ogg), rendering it first if it is not cached yet."""
    speed = request.args.get("speed", "normal")
    if speed not in speech.SPEEDS:
        abort(400, description="speed must be normal or slow.")
    try:
        consultation = consultations.get(store.get_db(), consultation_id, version)
    except NotFound:
        abort(404, description="No such consultation version.")
    found = speech.item(consultation, language, key) if language in consultation.languages else None
    if found is None:
        abort(404, description="This consultation has no such text to read.")
    try:
        path = speech.render(_folder(), found.text, language, speed)
    except speech.SpeechUnavailable:
        abort(
            404, description="Reading aloud is not available on this kiosk (espeak-ng is missing)."
        )
    response = send_file(path, mimetype="audio/ogg", conditional=True, max_age=MAX_AGE_SECONDS)
    return response
