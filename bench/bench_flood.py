"""Benchmark: a hub serving /healthz while 500 half-sent connections are held open.

Starts `participate hub` on waitress, measures GET /healthz with wrk (the baseline),
then opens HELD connections that each send a request line and a header but never the
blank line that ends them (issue 16's repro), and measures /healthz again while they
are held. Target: at least 0.5 of the baseline's requests/s, every request answered.
With waitress's defaults (100 connections at most) the second run got no answer at all.

    python bench/bench_flood.py [--held 500] [--duration 10] [--no-append]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    append_results,
    compare,
    free_port,
    print_table,
    run_wrk,
    start_server,
)
from participate import serve  # noqa: E402

TARGET = 0.5
HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


def hold_half_sent(port: int, count: int) -> list[socket.socket]:
    """Open `count` connections, each with a request that never ends (tests/test_serve.py too)."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(HALF_SENT)
        held.append(sock)
    return held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=500)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    serve.allow_open_files(args.held + 256)
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "participate", "--log-level", "WARNING", "hub"]
        command += ["--db", str(Path(folder) / "hub.db"), "--port", str(port)]
        # The idle timeout must outlast the measurement, or the flood is cleared mid-run.
        env = {
            "PARTICIPATE_SECRET_KEY": "bench",
            "PARTICIPATE_SERVER_CHANNEL_TIMEOUT": str(args.duration * 6),
        }
        with start_server(command, url, env):
            baseline = run_wrk(url, duration=args.duration, name="GET /healthz")
            held = hold_half_sent(port, args.held)
            try:
                flooded = run_wrk(
                    url,
                    duration=args.duration,
                    name=f"GET /healthz, {args.held} half-sent connections held",
                )
            finally:
                for sock in held:
                    sock.close()
    ratio, table = compare(baseline, flooded)
    print_table([baseline, flooded])
    met = ratio >= TARGET and not flooded["socket_errors"] and not flooded["timeouts"]
    verdict = (
        f"`python bench/bench_flood.py --held {args.held} --duration {args.duration}`:"
        f" `participate hub` (waitress, {serve.THREADS} threads, default"
        " SERVER_CONNECTION_LIMIT), wrk 8 connections, 2 threads, against /healthz alone,"
        f" then with {args.held} connections each holding a half-sent request."
        f" Ratio {ratio:.2f} (target >= {TARGET}), {flooded['timeouts']} timeouts,"
        f" {flooded['socket_errors']} socket errors: {'met' if met else 'NOT met'}."
    )
    print(verdict)
    if not args.no_append:
        append_results(
            ROOT / "docs" / "benchmarks.md",
            "Serving under a flood of half-sent connections",
            [baseline, flooded],
            notes=verdict,
        )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
