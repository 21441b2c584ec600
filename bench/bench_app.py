"""Benchmark the hub's shared routes under waitress against GET /healthz, in one run.

Run from the repository root: `python -m bench.bench_app [--duration 10] [--record]`.
Each feature's benchmark (bench_kiosk, bench_sms, bench_sync, bench_export) measures
its own path the same way; this one covers what every deployment serves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.harness import append_results, compare, free_port, print_table, run_wrk, start_server

ROOT = Path(__file__).resolve().parent.parent
ROUTES = [
    ("GET /static/css/base.css", "/static/css/base.css"),
    ("GET /staff/login", "/staff/login"),
    ("GET /no-such-page (404 page)", "/no-such-page"),
]


def main() -> None:
    """Start a hub with the example loaded and measure each route against /healthz."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per route.")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--record", action="store_true", help="Append to docs/benchmarks.md.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "hub.db")
        participate = [sys.executable, "-m", "participate", "--log-level", "WARNING"]
        from subprocess import run

        run(
            [*participate, "load", "--db", db, str(ROOT / "examples/library-hours.yaml")],
            check=True,
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with start_server(
            [*participate, "hub", "--db", db, "--port", str(port)], base + "/healthz"
        ):
            rows = [
                run_wrk(
                    base + "/healthz",
                    duration=args.duration,
                    connections=args.connections,
                    name="GET /healthz",
                )
            ]
            for name, path in ROUTES:
                rows.append(
                    run_wrk(
                        base + path, duration=args.duration, connections=args.connections, name=name
                    )
                )
    print_table(rows)
    for row in rows[1:]:
        ratio, _ = compare(rows[0], row)
        print(f"{row['name']}: {ratio:.2f} of /healthz requests/s")
    if args.record:
        append_results(
            ROOT / "docs/benchmarks.md",
            "Shared routes on the hub (waitress, 8 threads)",
            rows,
            notes=f"{args.connections} connections, {args.duration} s per route, wrk.",
        )


if __name__ == "__main__":
    main()
