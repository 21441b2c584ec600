"""Benchmark the kiosk's static files: content-addressed, gzipped, against GET /healthz.

A kiosk page names its style sheet and script by their content's digest and sends them
gzipped with a year's `immutable` cache, so a browser fetches each once. This measures
what the node pays for the fetches that remain (a new browser, a restart): requests/s
of `GET /assets/<digest>/kiosk/kiosk.css` with `Accept-Encoding: gzip` as a ratio of
`GET /healthz` in the same run, and the bytes sent, against Flask's own static route
(`/static/kiosk/kiosk.css`, uncompressed) for comparison.

    python bench/bench_kiosk_assets.py [--duration 10] [--no-append]
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import sys
import tempfile
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    append_results,
    compare,
    free_port,
    print_table,
    run_wrk,
    start_server,
)
from participate import store

ROOT = Path(__file__).resolve().parent.parent
GZIP = 'wrk.headers["Accept-Encoding"] = "gzip"\n'


def main() -> int:
    """Run the benchmark, print the figures and append them to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--no-append", action="store_true", help="Do not write the docs.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "node.db"
        store.open_db(db_path, migrate=True).close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PARTICIPATE_LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-m", "participate", "--log-level", "WARNING", "node"]
        command += ["--db", str(db_path), "--port", str(port), "--hub", "http://127.0.0.1:9"]
        command += ["--device-id", "node-bench", "--device-secret", "bench-not-a-secret"]
        with start_server(command, base + "/healthz", env=env):
            page = urllib.request.urlopen(base + "/").read().decode()
            css = re.search(r'href="(/assets/[0-9a-f]+/kiosk/kiosk\.css)"', page)
            if not css:
                print("ERROR: the welcome page names no content-addressed style sheet")
                return 1
            health = run_wrk(base + "/healthz", duration=args.duration, name="GET /healthz")
            hashed = run_wrk(
                base + css[1],
                duration=args.duration,
                lua_body=GZIP,
                name="GET /assets/<digest>/kiosk/kiosk.css, gzip",
            )
            plain = run_wrk(
                base + "/static/kiosk/kiosk.css",
                duration=args.duration,
                name="GET /static/kiosk/kiosk.css (Flask static, no gzip)",
            )
    rows = [health, hashed, plain]
    print_table(rows)
    ratio, _ = compare(health, hashed)
    raw = (ROOT / "static" / "kiosk" / "kiosk.css").read_bytes()
    packed = len(gzip.compress(raw, compresslevel=9, mtime=0))
    notes = (
        "`python bench/bench_kiosk_assets.py`: a node (`participate node`, waitress) with"
        " an empty store; wrk, 8 connections, 2 threads. The style sheet is"
        f" {len(raw):,} bytes, {packed:,} gzipped. Content-addressed files are"
        " fetched once per browser (`Cache-Control: public, max-age=31536000,"
        " immutable`): after the first screen a kiosk page loads only its HTML."
        f" Gzipped asset throughput: {ratio:.2f} of /healthz."
    )
    print(notes)
    if not args.no_append:
        append_results(ROOT / "docs" / "benchmarks.md", "Kiosk static files", rows, notes)
    bad = [row for row in rows if row["non_2xx"] or row["socket_errors"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
