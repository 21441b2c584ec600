"""The simulator's phone keypad: call the voice channel by hand, through the same engine.

The SMS simulator page shows it (templates/voice/_keypad.html). Each key is handed to
`calls.respond` as Twilio would send it, and the TwiML answered is read the way Twilio
reads it: what `<Say>` says is logged for the page, `<Gather>` means the call waits for
a key, `<Hangup>` ends it. The log is kept in `voice_simulator_log`, never synced.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import sqlite_utils
from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for

from participate import clock, store
from participate.sms import caller_number, identify_caller, simulator_allows

from . import calls

bp = Blueprint("voice_simulator", __name__, url_prefix="/voice")
KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
HISTORY = 60


def init_app(app: Flask) -> None:
    """Mount the keypad's route and give templates what the keypad shows."""
    app.register_blueprint(bp)
    app.add_template_global(call_log, "voice_call_log")


def spoken(twiml: str) -> tuple[list[str], bool]:
    """Return what a TwiML answer says, and whether the call then waits for a key."""
    root = ET.fromstring(twiml)  # noqa: S314 (our own TwiML)
    texts = [say.text or "" for say in root.iter("Say")]
    waits = root.find("Gather") is not None or root.find("Record") is not None
    return texts, waits


def press(
    db: sqlite_utils.Database, config: calls.VoiceConfig, phone: str, key: str | None
) -> None:
    """Start a call from `phone` (key None and no call waiting), or send it a key ('' : no key)."""
    caller = caller_number(phone)
    contact_id = identify_caller(db, caller, clock.utcnow()).contact_id
    current = _current(db, contact_id)
    if current is None or key is None:
        call_sid, step, digits = f"CAsim{uuid.uuid4().hex}", 0, None
    else:
        call_sid, step = current["call_sid"], current["step"]
        digits = key or None
        _log(db, contact_id, call_sid, step, "in", key or "…")
    twiml = calls.respond(
        db, config, calls.CallEvent(call_sid, caller, step, digits), url_for("voice.twilio_call")
    )
    texts, waits = spoken(twiml)
    for text in texts:
        _log(db, contact_id, call_sid, step + 1 if waits else -1, "out", text)
    if not texts:
        _log(db, contact_id, call_sid, step + 1 if waits else -1, "out", "…")


def _log(
    db: sqlite_utils.Database, contact_id: int, call_sid: str, step: int, direction: str, body: str
) -> None:
    with store.write(db):
        db.execute(
            "INSERT INTO voice_simulator_log (contact_id, call_sid, step, direction, body, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [contact_id, call_sid, step, direction, body, clock.utcnow()],
        )


def _current(db: sqlite_utils.Database, contact_id: int) -> dict[str, Any] | None:
    """Return the simulated call waiting for a key from this contact, if any."""
    row = store.first_row(
        db,
        "SELECT call_sid, step FROM voice_simulator_log WHERE contact_id = ?"
        " ORDER BY id DESC LIMIT 1",
        [contact_id],
    )
    return row if row and row["step"] >= 0 else None


def call_log(phone: str) -> dict[str, Any]:
    """Return what the keypad shows for `phone`: the call's lines, and if it waits for a key."""
    db = store.get_db()
    rows = list(
        db.query(
            "SELECT l.direction, l.body, l.step FROM voice_simulator_log l"
            " JOIN sms_contacts c ON c.id = l.contact_id WHERE c.phone = ?"
            " ORDER BY l.id DESC LIMIT ?",
            [phone, HISTORY],
        )
    )
    rows.reverse()
    return {"lines": rows, "in_call": bool(rows) and rows[-1]["step"] >= 0, "keys": KEYS}


@bp.post("/simulator")
def keypad() -> Any:
    """Call, press a key, wait (no key) or hang up from the simulator page."""
    phone = simulator_allows(request.form.get("number", ""))
    if phone is None:
        abort(400, description="Use the simulator with a made-up number such as +15555550100.")
    action = request.form.get("action", "")
    key = request.form.get("key", "")
    db = store.get_db()
    config = current_app.extensions["voice"]
    if action == "call":
        press(db, config, phone, None)
    elif action == "wait":
        press(db, config, phone, "")
    elif action == "hangup":
        contact_id = identify_caller(db, caller_number(phone), clock.utcnow()).contact_id
        current = _current(db, contact_id)
        if current:
            calls.record_status(db, current["call_sid"], "completed")
            _log(db, contact_id, current["call_sid"], -1, "hangup", "")
    elif key in KEYS:
        press(db, config, phone, key)
    else:
        abort(400, description="Press one of the keypad's keys.")
    return redirect(url_for("sms.simulator_page", number=phone, _anchor="call"), code=303)
