"""The SMS channel's routes: the Twilio webhook and status callback, and the simulator page."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import BadRequest

from participate import group_commit, store, twilio_signature

from . import config, conversations, outbound, phones, segments, simulator
from .errors import InvalidNumber

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__, url_prefix="/sms")

DEFAULT_SIMULATOR_NUMBER = "+15555550100"
# Every MessageStatus Twilio's status callbacks send; anything else is not from Twilio.
TWILIO_STATUSES = frozenset(
    {
        "accepted", "scheduled", "canceled", "queued", "sending", "sent", "failed",
        "delivered", "undelivered", "receiving", "received", "read", "partially_delivered",
    }
)  # fmt: skip


def verify_signature() -> None:
    """Refuse (403) a request not signed by Twilio with our auth token; refuse all without one."""
    settings = config.get()
    twilio_signature.verify(settings.auth_token, settings.public_url)


def twiml(replies: list[str]) -> Response:
    """Return TwiML sending each reply as one message (none: the empty response)."""
    response = MessagingResponse()
    for reply in replies:
        response.message(reply)
    return Response(str(response), mimetype="text/xml")


def _int_field(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number.") from None


@bp.post("/twilio")
def twilio_inbound() -> Response:
    """Handle a message Twilio received for us and answer with TwiML."""
    verify_signature()
    form = request.form
    message_sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    if not message_sid or len(message_sid) > 64:
        raise BadRequest("MessageSid is missing.")
    try:
        phone = phones.to_e164(form.get("From", ""), config.get().default_region)
    except InvalidNumber as error:
        raise BadRequest(f"From is not a phone number: {error}") from None
    inbound = conversations.Inbound(
        phone=phone,
        body=form.get("Body", ""),
        message_sid=message_sid,
        num_media=_int_field("NumMedia") or 0,
        opt_out_type=form.get("OptOutType", ""),
    )
    settings = config.get()
    outcome = group_commit.writer_for(settings.database).run(
        lambda db: conversations.handle(db, settings, inbound)
    )
    conversations.log_outcome(outcome)  # after the commit, outside the writer thread
    return twiml(outcome.replies)


@bp.post("/twilio/status")
def twilio_status() -> tuple[str, int]:
    """Record a delivery-status callback for a message we sent."""
    verify_signature()
    message_sid = request.form.get("MessageSid", "")
    status = request.form.get("MessageStatus", "")
    if not message_sid or not status or len(message_sid) > 64:
        raise BadRequest("MessageSid and MessageStatus are required.")
    if status not in TWILIO_STATUSES:
        raise BadRequest("MessageStatus is not one Twilio sends.")
    error_code = _int_field("ErrorCode")
    to = request.form.get("To", "")
    outbound.record_status(store.get_db(), config.get(), message_sid, status, error_code, to=to)
    return "", 204


def _require_simulator() -> None:
    if not config.get().simulator:
        abort(404)


def _render_simulator(number: str, error: str = "", body: str = "", status: int = 200) -> Any:
    db = store.get_db()
    messages = simulator.history(db, number) if number and not error else []
    queued = simulator.queued(db, number) if number and not error else 0
    page = render_template(
        "sms/simulator.html",
        number=number,
        messages=messages,
        error=error,
        body=body,
        queued=queued,
        max_body=segments.MAX_BODY,
    )
    return page, status


@bp.get("/simulator")
def simulator_page() -> Any:
    """Show the phone-like page: the conversation with one number, and a box to text."""
    _require_simulator()
    number = request.args.get("number", DEFAULT_SIMULATOR_NUMBER)[:40]
    if config.get().live and phones.in_service(number):
        return _render_simulator(number, error="real_number", status=400)
    return _render_simulator(number)


@bp.post("/simulator")
def simulator_send() -> Any:
    """Text the channel from the simulator page, then show the conversation again."""
    _require_simulator()
    raw_number = request.form.get("number", "")
    body = request.form.get("body", "")
    try:
        number = phones.to_e164(raw_number, config.get().default_region)
    except InvalidNumber:
        return _render_simulator(
            raw_number[:40], error="number", body=body[: segments.MAX_BODY], status=400
        )
    if len(body) > segments.MAX_BODY:
        kept = body[: segments.MAX_BODY]
        return _render_simulator(number, error="too_long", body=kept, status=400)
    if config.get().live and phones.in_service(number):
        # Beside real traffic, never STOP or answer for a resident: made-up numbers only.
        return _render_simulator(number, error="real_number", body=body, status=400)
    simulator.send(store.get_db(), config.get(), number, body)
    return redirect(url_for("sms.simulator_page", number=number, _anchor="latest"), code=303)
