"""The hub's device API under /api/v1: push submissions, pull consultations, heartbeat.

Every request is signed by a device (see participate.sync.wire) instead of carrying a CSRF token.
Errors are JSON: 400 for a malformed body, 401 with a reason for a refused request, 413
for a body over the limit.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from participate import fleet, store

from . import receive, verification, wire
from .errors import BadBatch, RequestRefused

log = logging.getLogger(__name__)
bp = Blueprint("sync_api", __name__)


@bp.before_request
def authenticate() -> Any:
    """Refuse any request that a known, enabled device did not sign just now."""
    body = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(body) >= limit:
        # A streamed body is cut at the limit, not refused: refuse it here.
        raise RequestEntityTooLarge()
    # The path as the node addressed it: behind a proxy, with the hub's mount prefix.
    query = request.query_string.decode("utf-8", "replace")
    path = request.script_root + request.path + (f"?{query}" if query else "")
    db = store.get_db()
    try:
        g.device = verification.verify(
            db,
            request.method,
            path,
            request.headers,
            body,
            window=current_app.config["SYNC_CLOCK_WINDOW"],
        )
    except RequestRefused as exc:
        log.warning(
            "sync.refused",
            extra={
                "device_id": request.headers.get(wire.HEADER_DEVICE, "")[:64],
                "reason": exc.reason,
                "remote_addr": request.remote_addr,
            },
        )
        # hub_time lets a node with a wrong clock correct its next request.
        return jsonify(error="unauthorized", reason=exc.reason, hub_time=time.time()), 401
    return None


@bp.errorhandler(BadBatch)
def bad_batch(error: BadBatch) -> Any:
    """Answer a malformed body with its status and a reason."""
    return jsonify(error="bad request", reason=str(error)), error.status


def _json_body() -> Any:
    body = request.get_data(cache=True)
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        body = _gunzip(body, current_app.config["SYNC_MAX_BATCH_BYTES"])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBatch("body is not JSON: not UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BadBatch(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise BadBatch("body is not JSON: nested too deeply") from None
    # Only a \u escape can make a lone surrogate, which no store can encode.
    if "\\u" in text and not _encodable(data):
        raise BadBatch("body is not JSON: a string holds an unpaired surrogate")
    return data


def _encodable(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have.
    raise BadBatch(f"body is not JSON: {name} is not a number")


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, limit)
    except zlib.error as exc:
        raise BadBatch(f"body is not valid gzip: {exc}") from None
    if not inflater.eof:
        # Output may wait inside zlib even when all the input was taken.
        if inflater.unconsumed_tail or len(data) >= limit:
            raise BadBatch(f"body inflates past {limit} bytes", status=413)
        raise BadBatch("body is truncated gzip")
    if inflater.unused_data:
        # One gzip member and nothing after it, as a node sends: not silently half a body.
        raise BadBatch("body has data after the gzip stream")
    return data


@bp.post("/submissions")
def push() -> Any:
    """Store a batch of the device's submissions and answer each one's outcome."""
    payload = _json_body()
    if not isinstance(payload, dict) or not isinstance(payload.get("submissions"), list):
        raise BadBatch('body must be an object with a "submissions" list')
    items = payload["submissions"]
    if len(items) > current_app.config["SYNC_MAX_BATCH_ITEMS"]:
        raise BadBatch(
            f"at most {current_app.config['SYNC_MAX_BATCH_ITEMS']} submissions a batch", status=413
        )
    results = receive.store_batch(store.get_db(), g.device["id"], items)
    counts = {
        status: sum(1 for r in results if r["status"] == status)
        for status in (receive.STORED, receive.DUPLICATE, receive.REJECTED)
    }
    log.info("sync.batch", extra={"device_id": g.device["id"], **counts})
    # 422 when nothing in a non-empty batch could be kept: the outcomes say why.
    status = 422 if items and counts[receive.REJECTED] == len(items) else 200
    return jsonify(results=results, counts=counts), status


@bp.post("/followups")
def push_followups() -> Any:
    """Keep the numbers a node collected to text results; answer each one's outcome."""
    payload = _json_body()
    if not isinstance(payload, dict) or not isinstance(payload.get("followups"), list):
        raise BadBatch('body must be an object with a "followups" list')
    items = payload["followups"]
    if len(items) > current_app.config["SYNC_MAX_BATCH_ITEMS"]:
        raise BadBatch(
            f"at most {current_app.config['SYNC_MAX_BATCH_ITEMS']} follow-ups a batch", status=413
        )
    results = receive.store_followups(store.get_db(), items)
    log.info(
        "sync.followups",
        extra={"device_id": g.device["id"], "received": len(items)},
    )
    return jsonify(results=results), 200


@bp.get("/consultations")
def pull() -> Any:
    """Send every published version of every consultation, or 304 if the node has them."""
    etag, body = receive.published(store.get_db())
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return Response(status=304, headers={"ETag": etag})
    response = jsonify(body)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.post("/heartbeat")
def heartbeat() -> Any:
    """Keep the device's health report and opt-outs; answer with its ledger, pepper, opt-outs."""
    config = current_app.config
    pepper = fleet.hub_pepper(str(config.get("PHONE_PEPPER") or ""), config["DATABASE"])
    answer = receive.take_heartbeat(store.get_db(), g.device["id"], _json_body(), pepper=pepper)
    return jsonify(answer)
