"""How staff pages, reports and cross-tabs name stored values: channels, languages, devices.

The store keeps short codes (`kiosk`, `fr`, `dev-5f075909bee3`); people read names, in the
interface language. One place, so the results page, the report and the PDF agree.
"""

from __future__ import annotations

import sqlite_utils
from flask_babel import gettext as _
from flask_babel import lazy_gettext

CHANNEL_LABELS = {
    "kiosk": lazy_gettext("Kiosk"),
    "sms": lazy_gettext("SMS"),
    "voice": lazy_gettext("Phone call"),
}
LANGUAGE_LABELS = {"en": lazy_gettext("English"), "fr": lazy_gettext("French")}
PSEUDONYM_LENGTH = 10


def channel_label(value: str) -> str:
    """Return a channel's name (`kiosk` -> Kiosk / Borne)."""
    return str(CHANNEL_LABELS.get(value, value))


def language_label(code: str) -> str:
    """Return a language's name in the interface language (`fr` -> French / Français)."""
    return str(LANGUAGE_LABELS.get(code, code or _("Unknown")))


def device_names(db: sqlite_utils.Database) -> dict[str, str]:
    """Return each enrolled device's name by its id (SMS gateways and kiosks alike)."""
    return {row["id"]: row["name"] for row in db.query("SELECT id, name FROM devices")}


def device_label(device_id: str, names: dict[str, str]) -> str:
    """Return a device's name, or its id when the hub does not know it."""
    return names.get(device_id) or device_id


def short_pseudonym(pseudonym: str | None) -> str:
    """Return the first characters of a respondent's pseudonym (enough to tell them apart)."""
    if not pseudonym:
        return ""
    return pseudonym if len(pseudonym) <= PSEUDONYM_LENGTH else pseudonym[:PSEUDONYM_LENGTH] + "…"
