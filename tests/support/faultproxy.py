"""An asyncio TCP proxy that injects network faults between nodes and the hub.

Each accepted connection gets a fault drawn from a seeded random generator:

- `pass`: bytes flow both ways untouched;
- `delay`: every chunk waits a while in each direction;
- `drop`: the connection is closed at once, before anything reaches the hub;
- `reset`: the connection is reset (RST) at once;
- `cut_request`: part of the request reaches the hub, then both sides are reset;
- `cut_response`: the whole request reaches the hub, which handles it, but the
  connection is reset before the first byte of its answer reaches the node;
- `cut_midway`: the answer is reset after its first chunk (a partial response);
- `stall`: nothing is forwarded for a while, then the connection is reset.

Set `faulty = False` to let everything pass (to let the system settle), and change
`upstream` at any time (the hub restarted on another port). `counts` says what was done.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Mapping
from types import TracebackType

# Relative weights of each fault while `faulty` is on.
DEFAULT_FAULTS: Mapping[str, float] = {
    "pass": 40,
    "delay": 15,
    "drop": 8,
    "reset": 8,
    "cut_request": 8,
    "cut_response": 12,
    "cut_midway": 5,
    "stall": 4,
}
_CHUNK = 64 * 1024


class FaultProxy:
    """Forward 127.0.0.1:<port> to `upstream`, injecting faults; runs its loop in a thread."""

    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        faults: Mapping[str, float] = DEFAULT_FAULTS,
        max_delay: float = 0.3,
        stall: float = 4.0,
    ) -> None:
        self.host = host
        self.upstream: tuple[str, int] = (host, upstream_port)
        self.rng = random.Random(seed)
        self.faults = dict(faults)
        self.max_delay = max_delay
        self.stall = stall
        self.faulty = True
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        """Return the proxy's base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        """Listen on a free port and start forwarding."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(10)
        return self

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        return self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close the listener and every connection, and stop the loop."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _choose(self) -> str:
        if not self.faulty:
            return "pass"
        names = list(self.faults)
        return self.rng.choices(names, weights=[self.faults[n] for n in names])[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            # Faults that strike before any request: the connection itself fails.
            mode = self._choose()
            if mode in ("drop", "reset", "stall"):
                self.counts[mode] += 1
                if mode == "stall":
                    await asyncio.sleep(self.stall)
                if mode != "drop":
                    _reset(writer)
                return
            try:
                up_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                self.counts["upstream_down"] += 1
                _reset(writer)
                return
            # Kept-alive connections carry many requests: each request draws its own fault.
            link = _Link(writer, upstream_writer)
            to_hub = asyncio.create_task(self._requests(reader, link))
            to_node = asyncio.create_task(self._responses(up_reader, link))
            done, pending = await asyncio.wait({to_hub, to_node}, return_when="FIRST_EXCEPTION")
            if pending and not any(t.exception() for t in done if not t.cancelled()):
                await asyncio.wait(pending)
            for t in pending:
                t.cancel()
        except asyncio.CancelledError:
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()
            self._tasks.discard(task)

    async def _requests(self, source: asyncio.StreamReader, link: _Link) -> None:
        """Forward the node's bytes to the hub, drawing a fault at the start of each request."""
        while True:
            data = await _next_chunk(source, link, link.hub)
            if not data:
                return
            if link.new_request:
                link.new_request = False
                link.mode = self._choose()
                link.delay = self.rng.uniform(0.01, self.max_delay)
                link.cut_at = self.rng.randint(1, 600)
                self.counts[link.mode] += 1
            if link.mode in ("drop", "reset"):
                link.reset()
                raise ConnectionResetError(link.mode)
            if link.mode == "stall":
                await asyncio.sleep(self.stall)
                link.reset()
                raise ConnectionResetError("stalled")
            if link.mode == "cut_request":
                link.hub.write(data[: link.cut_at])
                with contextlib.suppress(Exception):
                    await link.hub.drain()
                link.reset()
                raise ConnectionResetError("cut during the request")
            if link.mode == "delay":
                await asyncio.sleep(link.delay)
            try:
                link.hub.write(data)
                await link.hub.drain()
            except (ConnectionError, OSError):
                link.reset()
                return

    async def _responses(self, source: asyncio.StreamReader, link: _Link) -> None:
        """Forward the hub's bytes to the node, applying the current request's fault."""
        while True:
            data = await _next_chunk(source, link, link.node)
            if not data:
                return
            if link.mode == "cut_response":
                # The hub received and handled the request; the node never hears the answer.
                link.reset()
                raise ConnectionResetError("cut before the response")
            if link.mode == "delay":
                await asyncio.sleep(link.delay)
            try:
                if link.mode == "cut_midway":
                    link.node.write(data[: max(1, len(data) // 2)])
                    await link.node.drain()
                    link.reset()
                    raise ConnectionResetError("cut during the response")
                link.node.write(data)
                await link.node.drain()
            except (ConnectionError, OSError):
                link.reset()
                return
            link.new_request = True


class _Link:
    """One proxied connection: both ends and the fault drawn for its current request."""

    def __init__(self, node: asyncio.StreamWriter, hub: asyncio.StreamWriter) -> None:
        self.node = node
        self.hub = hub
        self.new_request = True
        self.mode = "pass"
        self.delay = 0.0
        self.cut_at = 0

    def reset(self) -> None:
        """Reset both ends."""
        _reset(self.node)
        _reset(self.hub)


async def _next_chunk(
    source: asyncio.StreamReader, link: _Link, onward: asyncio.StreamWriter
) -> bytes:
    """Read what one end sent next; b"" once it closed (passed on) or broke (link reset)."""
    try:
        data = await source.read(_CHUNK)
    except (ConnectionError, OSError):
        link.reset()
        return b""
    if not data:
        with contextlib.suppress(Exception):
            onward.write_eof()
    return data


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort a connection with a TCP RST rather than a clean close."""
    with contextlib.suppress(Exception):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
