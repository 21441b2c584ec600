"""The android gateway: a phone running SMS Gateway for Android in its local-server mode.

The phone, on the library's network, posts each event to our webhook (`/sms/android`),
signed as the app signs it: `X-Signature` is the hex HMAC-SHA256, keyed with the signing
key set in the app, of the raw JSON body followed by the `X-Timestamp` header (Unix
seconds). `sms:received` goes to the conversation engine, deduplicated on the event id
(which the app keeps across its retries; its messageId is a content hash, not unique);
`sms:sent`, `sms:delivered` and `sms:failed` settle the reply they name. Replies go out
through the phone's API, `POST /messages` with basic authentication (`AndroidSender`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import requests
from flask import Blueprint, abort, request
from werkzeug.exceptions import BadRequest

from participate import group_commit, store

from . import config, conversations, gateway, outbound, phones
from .config import SmsConfig
from .errors import InvalidNumber, PermanentSendError, TransientSendError

log = logging.getLogger(__name__)

bp = Blueprint("sms_android", __name__, url_prefix="/sms")

SID_PREFIX = "android:"
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
# A signed event older (or newer) than this is refused: a replayed request.
WINDOW_SECONDS = 300
TIMEOUT = 15
# The app's events that settle a reply, and the status each gives it.
SETTLING_EVENTS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}


def signature(secret: str, body: bytes, timestamp: str) -> str:
    """Return the app's signature of a webhook: hex HMAC-SHA256 of the body then the timestamp."""
    return hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, timestamp: str, signed: str, *, now: float) -> str:
    """Return '' if the webhook is the phone's and fresh, else why it is refused."""
    if not signed or not timestamp:
        return "unsigned"
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return "bad timestamp"
    if age > WINDOW_SECONDS:
        return "outside the time window"
    if not hmac.compare_digest(signature(secret, body, timestamp), signed.lower()):
        return "bad signature"
    return ""


@bp.post("/android")
def webhook() -> tuple[str, int]:
    """Take an event from the phone: a text received, or what became of a reply."""
    settings = config.get()
    body = request.get_data(cache=True)
    reason = verify(
        settings.android_webhook_secret,
        body,
        request.headers.get(TIMESTAMP_HEADER, ""),
        request.headers.get(SIGNATURE_HEADER, ""),
        now=time.time(),
    )
    if reason:
        log.warning("sms.android_refused", extra={"reason": reason})
        abort(403, description=f"This endpoint only accepts events signed by the phone ({reason}).")
    try:
        event = json.loads(body)
        kind, payload, event_id = event["event"], event["payload"], str(event["id"])
    except (ValueError, KeyError, TypeError):
        raise BadRequest("The event is not the app's JSON (event, id, payload).") from None
    if not isinstance(payload, dict) or not event_id or len(event_id) > 64:
        raise BadRequest("The event's payload or id is malformed.")
    if kind == "sms:received":
        _received(settings, event_id, payload)
    elif kind in SETTLING_EVENTS:
        _settled(settings, kind, payload)
    # Anything else (system:ping, mms:received) is acknowledged so the app stops retrying.
    return "", 204


def _received(settings: SmsConfig, event_id: str, payload: dict[str, Any]) -> None:
    text = payload.get("message")
    if not isinstance(text, str):
        raise BadRequest("sms:received needs the message text.")
    try:
        phone = phones.to_e164(str(payload.get("phoneNumber") or ""), settings.default_region)
    except InvalidNumber as error:
        raise BadRequest(f"phoneNumber is not a phone number: {error}") from None
    inbound = conversations.Inbound(phone=phone, body=text, message_sid=SID_PREFIX + event_id)
    group_commit.writer_for(settings.database).run(
        lambda db: gateway.take_in_transaction(db, settings, inbound)
    )


def _settled(settings: SmsConfig, kind: str, payload: dict[str, Any]) -> None:
    message_id = str(payload.get("messageId") or "")
    if not message_id or len(message_id) > 64:
        raise BadRequest("the event names no messageId.")
    status = SETTLING_EVENTS[kind]
    if status == "failed":
        reason = phones.redact(str(payload.get("reason") or "no reason given"))[:200]
        log.warning("sms.android_send_failed", extra={"reason": reason})
        gateway.note_problem(store.get_db(), f"the phone could not send a reply: {reason}")
    outbound.record_status(store.get_db(), settings, SID_PREFIX + message_id, status, None)


class AndroidSender:
    """Send through the phone's local API (`POST /messages`, basic authentication)."""

    reports_later = True  # `accepted` until the phone's sms:sent or sms:failed event

    def __init__(self, settings: SmsConfig, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.key = "android:" + settings.android_url

    def send(self, to: str, body: str) -> str:
        """Hand one message to the phone and return its id, or raise a SendError."""
        url = self.settings.android_url + "/messages"
        message = {"textMessage": {"text": body}, "phoneNumbers": [to]}
        auth = (self.settings.android_username, self.settings.android_password)
        try:
            answer = self.session.post(url, json=message, auth=auth, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise TransientSendError(
                f"could not reach the phone: {phones.redact(str(exc))}"
            ) from exc
        if answer.status_code >= 500 or answer.status_code == 429:
            raise TransientSendError(f"the phone answered {answer.status_code}")
        if answer.status_code != 202:
            detail = phones.redact(answer.text[:200])
            raise PermanentSendError(
                f"the phone refused the message ({answer.status_code}): {detail}"
            )
        try:
            message_id = str(answer.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise TransientSendError("the phone's answer has no message id") from None
        return SID_PREFIX + message_id
