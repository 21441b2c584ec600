"""Serving under hostile traffic: real `participate hub` and `participate node` processes.

A flood of half-sent requests (the request line and a header, never the blank line that
ends them) must neither freeze the server nor hold its sockets past the idle timeout.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from bench.bench_flood import hold_half_sent
from participate import serve, store
from participate.cli import main
from participate.sync import devices

HELD = 500
IDLE_TIMEOUT = 3  # seconds: the test's SERVER_CHANNEL_TIMEOUT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """Start `participate ARGS --port P` as the console script does; wait for /healthz."""
    port = _free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "participate", "--log-level", "WARNING", *args]
            + ["--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PARTICIPATE_SECRET_KEY": "serve-test",
                "PARTICIPATE_SERVER_CHANNEL_TIMEOUT": str(IDLE_TIMEOUT),
                **env,
            },
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait(10)
    raise AssertionError(f"{args[0]} did not start:\n{log.read_text()}")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, int]]:
    """A hub and a node syncing with it, as real processes; their ports by role."""
    hub_db = tmp_path / "hub.db"
    with store.open_db(hub_db, migrate=True) as db:
        device_id, secret = devices.add_device(db, "Flooded kiosk")
    processes = []
    try:
        hub, hub_port = _start(["hub", "--db", str(hub_db)], {}, tmp_path / "hub.log")
        processes.append(hub)
        node, node_port = _start(
            ["node", "--db", str(tmp_path / "node.db"), "--hub", f"http://127.0.0.1:{hub_port}"]
            + ["--device-id", device_id],
            {"PARTICIPATE_DEVICE_SECRET": secret},
            tmp_path / "node.log",
        )
        processes.append(node)
        yield {"hub": hub_port, "node": node_port}
    finally:
        for process in processes:
            process.kill()
            process.wait(10)


def _closed_by_server(held: list[socket.socket], within: float) -> int:
    """Wait until the server closes every held socket; return how many it closed."""
    selector = selectors.DefaultSelector()
    for sock in held:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    closed = 0
    deadline = time.monotonic() + within
    while closed < len(held) and time.monotonic() < deadline:
        for key, _events in selector.select(timeout=0.5):
            try:
                data = key.fileobj.recv(4096)
            except ConnectionResetError:
                data = b""
            if not data:  # end of file: the server closed it
                selector.unregister(key.fileobj)
                closed += 1
    selector.close()
    return closed


@pytest.mark.slow
def test_half_sent_connections_neither_freeze_the_servers_nor_outstay_the_timeout(
    servers: dict[str, int],
) -> None:
    serve.allow_open_files(4 * HELD)  # this test process holds 1000 client sockets
    held = {role: hold_half_sent(port, HELD) for role, port in servers.items()}
    try:
        for role, port in servers.items():
            started = time.monotonic()
            with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                assert response.status == 200
            elapsed = time.monotonic() - started
            assert elapsed < 1, f"{role} /healthz took {elapsed:.2f} s with {HELD} held sockets"
        # The sweep runs every second at this timeout; allow a few for the 500 closes.
        for role, sockets in held.items():
            closed = _closed_by_server(sockets, within=IDLE_TIMEOUT + 10)
            assert closed == HELD, f"{role} closed {closed} of {HELD} idle sockets"
    finally:
        for sockets in held.values():
            for sock in sockets:
                sock.close()


@pytest.mark.parametrize(
    ("host", "proxies", "warns"),
    [
        ("127.0.0.1", 0, False),
        ("localhost", 0, False),
        ("::1", 0, False),
        ("0.0.0.0", 0, True),  # noqa: S104 (the address being judged)
        ("::", 0, True),
        ("192.0.2.10", 0, True),
        ("hub.example.org", 0, True),
        ("0.0.0.0", 1, False),  # noqa: S104
    ],
)
def test_exposure_warning(host: str, proxies: int, warns: bool) -> None:
    warning = serve.exposure_warning(host, proxies)
    assert (warning is not None) == warns
    if warns:
        assert "TRUSTED_PROXIES" in warning and "docs/deploy.md" in warning


def test_hub_warns_at_start_when_public_without_proxies(runner, tmp_path, monkeypatch) -> None:
    started = []
    monkeypatch.setattr(serve, "serve", lambda app, host, port, **kw: started.append(host))
    monkeypatch.delenv("PARTICIPATE_TRUSTED_PROXIES", raising=False)
    db = str(tmp_path / "hub.db")
    public = runner.invoke(main, ["hub", "--db", db, "--host", "0.0.0.0"])  # noqa: S104
    assert public.exit_code == 0, public.output
    assert "Warning: listening on 0.0.0.0" in public.output
    monkeypatch.setenv("PARTICIPATE_TRUSTED_PROXIES", "1")
    proxied = runner.invoke(main, ["hub", "--db", db, "--host", "0.0.0.0"])  # noqa: S104
    assert proxied.exit_code == 0 and "Warning" not in proxied.output
    assert started == ["0.0.0.0", "0.0.0.0"]  # noqa: S104


def test_open_file_limit_is_raised_within_the_hard_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = soft + 1 if hard == resource.RLIM_INFINITY or soft < hard else soft
    assert serve.allow_open_files(wanted) >= min(wanted, hard)
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= min(wanted, hard)
