"""The node's HTTP client for the hub: signs each request; the transport underneath is injectable.

`HubClient` speaks the API (push, pull, heartbeat); a transport moves bytes. The
default `HttpTransport` uses the standard library's http.client with one kept-alive
connection; tests pass a transport that calls a Flask test client, or a fake.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from participate import __version__

from . import wire
from .errors import BatchTooLarge, HubRefused, TransportError, UnexpectedAnswer

API = "/api/v1"


@dataclass
class HubAnswer:
    """One answer from the hub: status, body and headers (names in lower case)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """Decode the body as JSON (an empty or broken body gives None)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class Transport(Protocol):
    """Move one request's bytes to the hub and back: HttpTransport, or a fake in tests."""

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> HubAnswer:
        """Send one request and return the full response; raise TransportError if it fails."""


class HttpTransport:
    """Send requests with http.client over one kept-alive connection, reopened after a failure."""

    def __init__(self) -> None:
        self._connection: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str, int | None] | None = None

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> HubAnswer:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "", parts.port)
        if self._connection is None or self._origin != origin:
            self.close()
            secure = parts.scheme == "https"
            factory = http.client.HTTPSConnection if secure else http.client.HTTPConnection
            self._connection = factory(parts.hostname or "", parts.port, timeout=timeout)
            self._origin = origin
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            self._connection.timeout = timeout
            if self._connection.sock is None:
                self._connection.connect()
                # Headers and body go out in separate writes: without this, Nagle's
                # algorithm and delayed ACKs add tens of milliseconds to every request.
                self._connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connection.request(method, target, body=body, headers=dict(headers))
            reply = self._connection.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if reply.will_close:
            self.close()
        return HubAnswer(reply.status, data, {k.lower(): v for k, v in reply.getheaders()})

    def close(self) -> None:
        """Close the kept-alive connection, if any."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class HubClient:
    """Talk to the hub's device API as one device, signing every request."""

    def __init__(
        self,
        base_url: str,
        device_id: str,
        secret: str,
        *,
        transport: Transport | None = None,
        timeout: float = 30.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id
        self._secret = secret
        self.transport = transport or HttpTransport()
        self.timeout = timeout
        self._now = now
        # Seconds to add to our clock so the hub accepts our timestamps (learnt on a 401).
        self.clock_offset = 0.0

    def __repr__(self) -> str:
        return f"HubClient({self.base_url!r}, device_id={self.device_id!r})"

    def close(self) -> None:
        """Close the transport's connection, if it keeps one."""
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> HubAnswer:
        """Send a signed request; retry once with the hub's clock if ours is outside its window."""
        response = self._send(method, path, body, headers)
        refusal = _refusal(response)
        hub_time = (refusal or {}).get("hub_time")
        if (
            refusal is not None
            and refusal.get("reason") == "timestamp outside window"
            and isinstance(hub_time, int | float)
            and not isinstance(hub_time, bool)
        ):
            self.clock_offset = hub_time - self._now()
            response = self._send(method, path, body, headers)
            refusal = _refusal(response)
        if refusal is not None:
            raise HubRefused(401, str(refusal.get("reason") or "unauthorized"))
        return response

    def _send(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None
    ) -> HubAnswer:
        prefix = urlsplit(self.base_url).path
        signed = wire.sign(
            self.device_id,
            self._secret,
            method,
            prefix + path,
            body,
            timestamp=self._now() + self.clock_offset,
        )
        all_headers = {
            "User-Agent": f"participate-node/{__version__}",
            "Accept": "application/json",
            **(headers or {}),
            **signed,
        }
        return self.transport(method, self.base_url + path, all_headers, body, self.timeout)

    def push(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch of submissions (gzip JSON) and return the hub's outcome for each."""
        body = gzip.compress(
            json.dumps({"submissions": list(items)}, ensure_ascii=False).encode("utf-8"),
            compresslevel=5,
        )
        return self.push_body(body)

    def push_body(self, body: bytes) -> list[dict[str, Any]]:
        """Send an encoded batch (gzip JSON) and return the hub's outcome for each submission."""
        response = self.request(
            "POST",
            f"{API}/submissions",
            body,
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        if response.status == 413:
            raise BatchTooLarge(413, _reason(response))
        return _outcomes(response)

    def push_followups(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Send numbers kept to text results and return the hub's outcome for each."""
        response = self.request(
            "POST",
            f"{API}/followups",
            json.dumps({"followups": list(items)}, ensure_ascii=False).encode("utf-8"),
            {"Content-Type": "application/json"},
        )
        return _outcomes(response)

    def consultations(self, etag: str | None = None) -> tuple[str, dict[str, Any]] | None:
        """Fetch the published consultations; None if they did not change since `etag`."""
        response = self.request(
            "GET", f"{API}/consultations", headers={"If-None-Match": etag} if etag else None
        )
        if response.status == 304:
            return None
        data = response.json()
        if response.status != 200 or not isinstance(data, dict):
            raise UnexpectedAnswer(response.status, _reason(response))
        return response.headers.get("etag", ""), data

    def heartbeat(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """Send the node's health report and return the hub's view of its ledger."""
        response = self.request(
            "POST",
            f"{API}/heartbeat",
            json.dumps(report).encode("utf-8"),
            {"Content-Type": "application/json"},
        )
        data = response.json()
        if response.status != 200 or not isinstance(data, dict):
            raise UnexpectedAnswer(response.status, _reason(response))
        return data


def _outcomes(response: HubAnswer) -> list[dict[str, Any]]:
    """Return the per-item outcomes of a push's answer (200, or 422 when all were refused)."""
    data = response.json()
    if response.status not in (200, 422) or not isinstance(data, dict):
        raise UnexpectedAnswer(response.status, _reason(response))
    results = data.get("results")
    if not isinstance(results, list):
        raise UnexpectedAnswer(response.status, "answer without results")
    return [r for r in results if isinstance(r, dict)]


def _refusal(response: HubAnswer) -> dict[str, Any] | None:
    """Return the body of a 401 (an empty dict if it is not an object), or None."""
    if response.status != 401:
        return None
    data = response.json()
    return data if isinstance(data, dict) else {}


def _reason(response: HubAnswer) -> str:
    data = response.json()
    if isinstance(data, dict):
        return str(data.get("reason") or data.get("detail") or data.get("error") or "")
    return response.body[:200].decode("utf-8", "replace")
