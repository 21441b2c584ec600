"""A stand-in for a phone running SMS Gateway for Android in local-server mode.

Written from the app's published OpenAPI description (app/src/main/assets/api/swagger.json
in capcom6/android-sms-gateway) and its webhook signing code (PayloadSingingPlugin.kt),
not from our own code: `POST /messages` takes a `smsgateway.Message` (`textMessage.text`,
`phoneNumbers`) under basic authentication and answers 202 with a
`smsgateway.GetMessageResponse` (`id`, `state`, `recipients`); events are posted as a
`WebHookEvent` (`id`, `webhookId`, `event`, `deviceId`, `payload`), with `X-Timestamp`
(Unix seconds) and `X-Signature`, the hex HMAC-SHA256 of the body followed by the
timestamp. It runs as a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

import requests
from flask import Flask, jsonify, request

from participate.serve import make_server

DEVICE_ID = "PyDmBQZZXYmyxMwED8Fzy"


def sign(key: str, body: bytes, timestamp: str) -> str:
    """Sign as the app does: hex HMAC-SHA256(key, body + timestamp)."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


class Phone:
    """The phone's local server, recording what it was asked to send; `post_event` as the app."""

    def __init__(self, username: str, password: str, signing_key: str) -> None:
        self.username = username
        self.password = password
        self.signing_key = signing_key
        self.messages: list[dict[str, Any]] = []
        self.failing = 0  # answer this many sends with 500 first
        app = Flask("android-phone")
        # make_server reads its limits from the config (participate.settings declares them).
        app.config.update(SERVER_CONNECTION_LIMIT=100, SERVER_CHANNEL_TIMEOUT=15)
        app.add_url_rule("/messages", "send", self._send, methods=["POST"])
        self.server = make_server(app, "127.0.0.1", 0, threads=2)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Phone:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.close()
        self.thread.join(5)

    def _send(self) -> Any:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (self.username, self.password):
            return jsonify(message="Unauthorized"), 401
        if self.failing:
            self.failing -= 1
            return jsonify(message="Internal server error"), 500
        body = request.get_json(silent=True) or {}
        text = (body.get("textMessage") or {}).get("text") or body.get("message")
        numbers = body.get("phoneNumbers")
        if not isinstance(text, str) or not text or not isinstance(numbers, list) or not numbers:
            return jsonify(message="Invalid request"), 400
        message_id = secrets.token_urlsafe(15)[:21]
        self.messages.append({"id": message_id, "text": text, "phoneNumbers": numbers})
        return jsonify(
            id=message_id,
            deviceId=DEVICE_ID,
            state="Pending",
            isHashed=False,
            isEncrypted=False,
            recipients=[{"phoneNumber": n, "state": "Pending"} for n in numbers],
        ), 202

    def post_event(
        self,
        url: str,
        event: str,
        payload: dict[str, Any],
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
        key: str | None = None,
    ) -> requests.Response:
        """Post a webhook event to `url` as the app does (signed unless key is '')."""
        body = json.dumps(
            {
                "id": event_id or secrets.token_urlsafe(15)[:21],
                "webhookId": "participate",
                "event": event,
                "deviceId": DEVICE_ID,
                "payload": payload,
            }
        ).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"Content-Type": "application/json", "X-Timestamp": stamp}
        if key != "":
            headers["X-Signature"] = sign(key or self.signing_key, body, stamp)
        return requests.post(url, data=body, headers=headers, timeout=10)

    def text(self, url: str, number: str, message: str, **options: Any) -> requests.Response:
        """Post an sms:received event: `number` texted the phone."""
        payload = {
            "messageId": hashlib.sha256(message.encode()).hexdigest()[:16],
            "message": message,
            "phoneNumber": number,
            "sender": number,
            "recipient": None,
            "simNumber": 1,
            "receivedAt": "2026-11-28T10:00:00.000-05:00",
        }
        return self.post_event(url, "sms:received", payload, **options)
