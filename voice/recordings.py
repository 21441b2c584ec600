"""Spoken answers (VOICE_RECORDINGS): bring each recording home from Twilio, then delete it there.

Twilio keeps a `<Record>`ed answer in the account until it is fetched. The hub fetches
each one as WAV into its own folder beside the store (`<database>.recordings/`), then
deletes it at Twilio, so the audio ends up in one place only, and is never transcribed.
A download that fails is tried again by the next run, up to MAX_ATTEMPTS times; the
credentials are only ever sent to Twilio's own API host.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import requests
import sqlite_utils

from participate import clock, store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
TIMEOUT_SECONDS = 30
TWILIO_API_HOST = "api.twilio.com"
Auth = tuple[str, str]
Download = Callable[[str, Auth], bytes]
Delete = Callable[[str, Auth], None]


class RecordingError(Exception):
    """A recording could not be fetched (or its URL is not Twilio's)."""


def folder(database: str | Path) -> Path:
    """Return the folder beside the store where fetched recordings are kept."""
    database = Path(database)
    return database.with_name(database.name + ".recordings")


def http_download(url: str, auth: Auth) -> bytes:
    """Download a recording's WAV from Twilio's API."""
    response = requests.get(url, auth=auth, timeout=TIMEOUT_SECONDS)
    if response.status_code != 200:
        raise RecordingError(f"Twilio answered {response.status_code}")
    return response.content


def http_delete(url: str, auth: Auth) -> None:
    """Delete a recording at Twilio (a 404: already gone)."""
    response = requests.delete(url, auth=auth, timeout=TIMEOUT_SECONDS)
    if response.status_code not in (204, 404):
        raise RecordingError(f"Twilio answered {response.status_code} to the deletion")


def _checked(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname != TWILIO_API_HOST:
        raise RecordingError("the recording URL is not on Twilio's API host")
    return url.removesuffix(".json").removesuffix(".wav")


def fetch_pending(
    db: sqlite_utils.Database,
    database: str | Path,
    auth: Auth,
    *,
    download: Download = http_download,
    delete: Delete = http_delete,
    limit: int = 20,
) -> int:
    """Fetch recordings not yet at home, keep each as a file, delete it at Twilio; count them."""
    pending = list(
        db.query(
            "SELECT id, recording_sid, recording_url FROM voice_recordings"
            " WHERE path IS NULL AND attempts < ? ORDER BY id LIMIT ?",
            [MAX_ATTEMPTS, limit],
        )
    )
    fetched = 0
    for row in pending:
        try:
            base = _checked(row["recording_url"])
            data = download(base + ".wav", auth)
            path = _keep(folder(database), row["recording_sid"], data)
        except (RecordingError, requests.RequestException, OSError) as error:
            with store.write(db):
                db.execute(
                    "UPDATE voice_recordings SET attempts = attempts + 1, last_error = ?"
                    " WHERE id = ?",
                    [str(error)[:200], row["id"]],
                )
            log.warning("voice.recording_fetch_failed", extra={"error": str(error)[:200]})
            continue
        with store.write(db):
            db.execute(
                "UPDATE voice_recordings SET path = ?, fetched_at = ?, last_error = ''"
                " WHERE id = ?",
                [str(path), clock.utcnow(), row["id"]],
            )
        fetched += 1
        try:
            delete(base + ".json", auth)
        except (RecordingError, requests.RequestException) as error:
            # Kept here already; Twilio's copy can be deleted by hand (docs/voice.md).
            log.warning("voice.recording_delete_failed", extra={"error": str(error)[:200]})
    return fetched


def _keep(where: Path, recording_sid: str, data: bytes) -> Path:
    if not recording_sid.isalnum():
        raise RecordingError("the recording id is not a Twilio id")
    where.mkdir(mode=0o700, exist_ok=True)
    path = where / f"{recording_sid}.wav"
    partial = path.with_suffix(".part")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path
