"""The phone channel's routes: Twilio's voice webhook and its call-status callback."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import BadRequest

from participate import group_commit, store, twilio_signature
from participate.sms import InvalidNumber, caller_number

from . import calls

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__, url_prefix="/voice")


def settings() -> calls.VoiceConfig:
    """Return the channel's settings for the current app."""
    return current_app.extensions["voice"]


def _verify() -> None:
    config = settings()
    # The same check, token and public URL as the SMS webhook's.
    twilio_signature.verify(config.auth_token, config.public_url)


def _step() -> int:
    raw = request.args.get("step", "0")
    if not raw.isdigit() or len(raw) > 6:
        raise BadRequest("step must be a whole number.")
    return int(raw)


def _duration() -> int | None:
    raw = request.form.get("RecordingDuration", "")
    return int(raw) if raw.isdigit() and len(raw) < 7 else None


@bp.post("/twilio")
def twilio_call() -> Response:
    """Answer a call (and each key it sends) with TwiML: menu, questions, goodbye."""
    _verify()
    form = request.form
    call_sid = form.get("CallSid", "")
    if not call_sid or len(call_sid) > 64:
        raise BadRequest("CallSid is missing.")
    timed_out = request.args.get("timeout") == "1"
    try:
        caller = caller_number(form.get("From", ""))
    except InvalidNumber:
        # A withheld number ("anonymous"): without it no answer can be kept apart or resumed.
        log.info("voice.hidden_number")
        return Response(calls.unavailable("hidden_number"), mimetype="text/xml")
    event = calls.CallEvent(
        call_sid=call_sid,
        caller=caller,
        step=_step(),
        digits=None if timed_out else form.get("Digits", ""),
        consultation_id=request.args.get("consultation", ""),
        recording_sid=form.get("RecordingSid", ""),
        recording_url=form.get("RecordingUrl", ""),
        recording_duration=_duration(),
    )
    config, action = settings(), url_for("voice.twilio_call")
    # Concurrent calls' keys share one commit (and one fsync), as SMS webhooks do.
    writer = group_commit.writer_for(current_app.config["DATABASE"])
    twiml = writer.run(lambda db: calls.handle(db, config, event, action))
    return Response(twiml, mimetype="text/xml")


@bp.post("/twilio/status")
def twilio_status() -> tuple[str, int]:
    """Record a call's status (completed, busy, no-answer...); a dropped call can resume."""
    _verify()
    call_sid = request.form.get("CallSid", "")
    status = request.form.get("CallStatus", "")
    if not call_sid or not status or len(call_sid) > 64 or len(status) > 32:
        raise BadRequest("CallSid and CallStatus are required.")
    calls.record_status(store.get_db(), call_sid, status)
    return "", 204
