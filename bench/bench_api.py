"""Benchmark: read a whole consultation through the OData feed, as Power BI does, against
the JSON Lines export of the same store, and show that keyset pages stay flat.

Builds a store with N submissions of the example (default 200,000), starts a real hub,
then in the same run: times the JSON Lines export (the same record shaping, one query,
in process: the baseline), times a client following every `@odata.nextLink` over HTTP
(target: within 8x the export), compares the first page with a page near the end
reached by `$skiptoken` (keyset) and by `$skip` (offset), and runs wrk on one page of
100 against /healthz. Figures are appended to docs/benchmarks.md.

    python bench/bench_api.py [--rows 200000] [--no-record]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_export import build  # noqa: E402
from bench.harness import (  # noqa: E402
    append_results,
    compare,
    free_port,
    machine_info,
    print_table,
    run_wrk,
    start_server,
)
from participate import store  # noqa: E402
from participate.api import tokens  # noqa: E402
from participate.hub import ExportOptions, plan_export  # noqa: E402
from participate.hub.export import jsonl_chunks  # noqa: E402

TARGET_RATIO = 8.0  # HTTP, a token check with its logged use (an fsync) and JSON, per page
SVC = "/odata/v1/library-hours.svc"


def export_seconds(path: Path) -> float:
    """Time the JSON Lines export of every submission, written to memory."""
    with store.open_db(path) as db:
        started = time.perf_counter()
        plan = plan_export(db, "library-hours", ExportOptions())
        sink = io.StringIO()
        for chunk in jsonl_chunks(db, plan):
            sink.write(chunk)
        return time.perf_counter() - started


def read_feed(session: requests.Session, url: str) -> tuple[int, int, float, str]:
    """Follow every nextLink from `url`; return rows, pages, seconds and the last page's URL."""
    rows = pages = 0
    started = time.perf_counter()
    last = url
    while url:
        last = url
        body = session.get(url, timeout=60).json()
        rows += len(body["value"])
        pages += 1
        url = body.get("@odata.nextLink")
    return rows, pages, time.perf_counter() - started, last


def page_ms(session: requests.Session, url: str, repeats: int = 5) -> float:
    """Return the median time of one GET, in milliseconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        assert session.get(url, timeout=60).status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


def run(rows: int, record: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hub.db"
        build(path, rows)
        with store.open_db(path, migrate=True) as db:
            _token, secret = tokens.create_token(db, "bench", "viewer")
        baseline = export_seconds(path)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "participate",
            "hub",
            "--db",
            str(path),
            "--port",
            str(port),
        ]
        with start_server(command, url + "/healthz", cwd=ROOT):
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {secret}"
            read, pages, feed, last_link = read_feed(session, url + SVC + "/Submissions")
            assert read == rows, (read, rows)
            first_ms = page_ms(session, url + SVC + "/Submissions?$top=1000")
            keyset_ms = page_ms(session, last_link)
            offset_ms = page_ms(session, url + SVC + f"/Submissions?$top=1000&$skip={rows - 1000}")
            lua = f'wrk.headers["Authorization"] = "Bearer {secret}"\n'
            health = run_wrk(url + "/healthz", duration=8, name="GET /healthz")
            odata_page = run_wrk(
                url + SVC + "/Submissions?$top=100",
                duration=8,
                lua_body=lua,
                name="GET OData page of 100",
            )
            session.close()
    ratio = feed / baseline
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    table = [
        "| measure | value |",
        "| --- | ---: |",
        f"| submissions | {rows:,} |",
        f"| JSON Lines export, in process (baseline) | {baseline:.2f} s |",
        f"| OData feed over HTTP, {pages} pages followed | {feed:.2f} s |",
        f"| ratio feed / export | {ratio:.2f} ({verdict} the {TARGET_RATIO:g}x target) |",
        f"| first page of 1000 | {first_ms:.1f} ms |",
        f"| last page of 1000 by `$skiptoken` (keyset) | {keyset_ms:.1f} ms |",
        f"| last page of 1000 by `$skip` (offset) | {offset_ms:.1f} ms |",
    ]
    print("\n".join(table))
    print_table([health, odata_page])
    page_ratio, _ = compare(health, odata_page)
    print(f"OData page / healthz throughput ratio: {page_ratio:.2f}")
    if record:
        info = machine_info()
        notes = "\n".join(
            [
                "Reading a whole consultation as Power BI does (bench/bench_api.py):",
                "",
                *table,
                "",
                f"wrk, 8 connections, 8 s; OData page of 100 / healthz: {page_ratio:.2f}.",
            ]
        )
        append_results(
            ROOT / "docs" / "benchmarks.md",
            f"OData feed and read API ({info['cpu']})",
            [health, odata_page],
            notes,
        )
    return 0 if ratio <= TARGET_RATIO else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    sys.exit(run(args.rows, not args.no_record))


if __name__ == "__main__":
    main()
