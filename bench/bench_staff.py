"""Benchmark: every staff page at 10,000 and at 1,000,000 submissions, and import of 1,000,000.

Builds (once, cached under the temp dir) two hub stores with `bench_export.build`, counts
their tallies, and signs in as an admin on a real hub (waitress) for each. wrk then
fetches every staff page (overview, results with and without filters, in French, the
list's first page and a deep one by cursor, a search) and `GET /healthz` on both, in
rounds, /healthz first in each; each figure is the median of its rounds.
Targets: each page at 1,000,000 within 2x of the same page at 10,000, and within 10x of
`GET /healthz` (latency, p50). Then `participate import` of a JSON Lines export of the
1,000,000 against sqlite-utils `insert_all` of the same records in one transaction, each
in a child process into a fresh store; target: at least 0.3 of insert_all's speed.
The figures are appended to docs/benchmarks.md.

    python bench/bench_staff.py [--small 10000] [--large 1000000] [--seconds 2] [--rounds 3]
        [--pages-only] [--no-record]
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_export import EXAMPLE, _timed, build  # noqa: E402
from bench.harness import free_port, machine_info, run_wrk, start_server  # noqa: E402
from participate import consultations, store, tallies  # noqa: E402
from participate.hub import results, users  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "participate-bench-staff"
EMAIL, PASSWORD = "bench@example.org", "bench-password-1234"
PAGE_RATIO, HEALTH_RATIO, IMPORT_RATIO = 2.0, 10.0, 0.3
CONSULTATION = "/staff/c/library-hours"
SPAN_SECONDS = 5 * 1_000_000  # what the million of bench_export spans: 58 days
FILTERS = "channel=kiosk&device=dev-3&language=fr&since=2026-11-01&until=2026-11-07&complete=yes"

# The same records, as rows of the submissions table: an export's record also lists the
# questions its submission was not asked (`not_asked`), which the store derives.
BASELINE_CHILD = r"""
import json, sys
from participate import store
with store.open_db(sys.argv[1]) as db, open(sys.argv[2], encoding="utf-8") as lines:
    columns = set(db.table("submissions").columns_dict)
    rows = ({k: v for k, v in json.loads(line).items() if k in columns} for line in lines)
    with db.atomic():
        db.table("submissions").insert_all(rows, batch_size=1000)
"""


def prepared_store(rows: int) -> Path:
    """Return a hub store holding `rows` submissions, its tallies counted and an admin.

    Every store spans the same days as the million (`bench_export.build` puts those 5 s
    apart), so the charts have as many days at 10,000 as at 1,000,000 and the
    comparison measures the number of submissions alone.
    """
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"hub-{rows}-{SPAN_SECONDS}s.db"
    if path.exists():
        return path
    partial = CACHE / f"hub-{rows}.building.db"
    for leftover in CACHE.glob(f"hub-{rows}.building.db*"):
        leftover.unlink()
    print(f"Building a store with {rows:,} submissions in {CACHE}", file=sys.stderr)
    began = time.perf_counter()
    build(partial, rows, seconds_apart=max(1, SPAN_SECONDS // rows))
    with store.open_db(partial, migrate=True) as db:
        tallies.rebuild(db)  # the builder inserts rows directly, past the write path
        users.create_user(db, EMAIL, PASSWORD, "admin")
    partial.rename(path)
    print(f"  in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return path


def sign_in(base: str) -> str:
    """Sign in as the bench's admin; return the Cookie header of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/staff/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "no CSRF token on the login page"
    data = urllib.parse.urlencode(
        {"email": EMAIL, "password": PASSWORD, "csrf_token": html.unescape(token[1])}
    ).encode()
    opener.open(f"{base}/staff/login", data=data).read()
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def deep_cursor(path: Path) -> str:
    """Return the cursor of the list 90% of the way down (what paging there would carry)."""
    with store.open_db(path) as db:
        total = db.execute("SELECT count(*) FROM submissions WHERE hidden = 0").fetchone()[0]
        row = db.execute(
            "SELECT submitted_at, id FROM submissions WHERE consultation_id = 'library-hours'"
            " AND hidden = 0 ORDER BY submitted_at DESC, id DESC LIMIT 1 OFFSET ?",
            [int(total * 0.9)],
        ).fetchone()
    return results.encode_cursor(row[0], row[1])


def pages(cursor: str) -> list[tuple[str, str]]:
    """Return each staff page the bench fetches: (name, path)."""
    return [
        ("overview", "/staff/"),
        ("results", f"{CONSULTATION}/"),
        ("results, filtered", f"{CONSULTATION}/?{FILTERS}"),
        ("results, in French", f"{CONSULTATION}/?lang=fr"),
        ("list, first page", f"{CONSULTATION}/submissions"),
        ("list, 90% deep", f"{CONSULTATION}/submissions?cursor={cursor}&dir=older"),
        ("search 'cold'", f"{CONSULTATION}/submissions?q=cold"),
    ]


def measure(path: Path, seconds: int, rounds: int) -> dict[str, dict]:
    """Start a hub on the store and measure /healthz and every page with wrk.

    The pages are measured in `rounds` rounds, /healthz first in each, and each figure
    is the median of its rounds: the machine's speed drifts (other work on shared
    cores), and a page measured next to its baseline in several rounds is compared
    with the baseline of the same moments.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "participate", "hub", "--db", str(path), "--port", str(port)]
    runs: dict[str, list[dict]] = {}
    with start_server(command, f"{base}/healthz", timeout=120):
        cookie = sign_in(base)
        script = f'wrk.headers["Cookie"] = "{cookie}"\n'
        figures = [("GET /healthz", "/healthz"), *pages(deep_cursor(path))]
        for _name, page in figures:
            request = urllib.request.Request(base + page, headers={"Cookie": cookie})
            with urllib.request.urlopen(request) as answer:  # warm, and check it is the page
                assert answer.status == 200 and "/staff/login" not in answer.url, page
        for _ in range(rounds):
            for name, page in figures:
                run = run_wrk(
                    base + page,
                    connections=2,
                    threads=1,
                    duration=seconds,
                    lua_body=script,
                    name=name,
                )
                assert run["non_2xx"] == 0, f"{name}: non-2xx answers"
                runs.setdefault(name, []).append(run)
    measured = {
        name: {
            "p50_ms": statistics.median(run["p50_ms"] for run in done),
            "requests_per_s": statistics.median(run["requests_per_s"] for run in done),
        }
        for name, done in runs.items()
    }
    for name, figure in measured.items():
        print(f"  {name}: p50 {figure['p50_ms']:.1f} ms", file=sys.stderr)
    return measured


def import_figures(large: Path, folder: Path) -> dict[str, float]:
    """Time `participate import` and sqlite-utils insert_all of the same JSONL, each fresh."""
    export = folder / "all.jsonl"
    command = [sys.executable, "-m", "participate", "export", "--db", str(large)]
    command += ["--consultation", "library-hours", "--format", "jsonl", "-o", str(export)]
    subprocess.run(command, check=True, cwd=ROOT)
    stores = {}
    for name in ("baseline", "import"):
        stores[name] = folder / f"{name}.db"
        with store.open_db(stores[name], migrate=True) as db:
            consultations.save(db, [consultations.read_file(EXAMPLE)])
    baseline = _timed([sys.executable, "-c", BASELINE_CHILD, str(stores["baseline"]), str(export)])
    command = [sys.executable, "-m", "participate", "import", "--db", str(stores["import"])]
    imported = _timed([*command, str(export)], stdout=subprocess.PIPE)
    with store.open_db(stores["import"]) as db:
        held = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
        assert not tallies.differences(db), "the import's tallies differ from a recount"
    return {
        "rows": held,
        "baseline_wall": baseline["wall"],
        "baseline_cpu": baseline["cpu"],
        "import_wall": imported["wall"],
        "import_cpu": imported["cpu"],
    }


def report(small: int, large: int, figures: dict, imported: dict | None) -> tuple[list[str], bool]:
    """Return the Markdown lines of the results and whether every target was met."""
    lines = [
        f"| page | p50 ms at {small:,} | p50 ms at {large:,} | {large:,} / {small:,}"
        f" | {large:,} / healthz | req/s at {large:,} |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    ok = True
    health = figures[large]["GET /healthz"]["p50_ms"]
    for name, at_large in figures[large].items():
        at_small = figures[small][name]
        growth = at_large["p50_ms"] / at_small["p50_ms"]
        versus = at_large["p50_ms"] / health
        if name != "GET /healthz":
            ok &= growth <= PAGE_RATIO and versus <= HEALTH_RATIO
        lines.append(
            f"| {name} | {at_small['p50_ms']:.1f} | {at_large['p50_ms']:.1f} | {growth:.2f}x"
            f" | {versus:.1f}x | {at_large['requests_per_s']:.0f} |"
        )
    if imported is None:
        lines.append(f"Page targets: {'met' if ok else 'NOT met'} (import not run).")
        return lines, ok
    speed = imported["baseline_cpu"] / imported["import_cpu"]
    ok &= speed >= IMPORT_RATIO
    lines += [
        "",
        "| import of the JSON Lines export | rows | CPU seconds | wall seconds |",
        "| --- | ---: | ---: | ---: |",
        f"| sqlite-utils insert_all, one transaction | {imported['rows']:,}"
        f" | {imported['baseline_cpu']:.1f} | {imported['baseline_wall']:.1f} |",
        f"| participate import | {imported['rows']:,} | {imported['import_cpu']:.1f}"
        f" | {imported['import_wall']:.1f} |",
        "",
        f"Import speed: {speed:.2f} of insert_all's (CPU; target ≥ {IMPORT_RATIO}).",
        f"Targets (each page at {large:,} within {PAGE_RATIO}x of {small:,} and within"
        f" {HEALTH_RATIO}x of /healthz; import ≥ {IMPORT_RATIO}): {'met' if ok else 'NOT met'}.",
    ]
    return lines, ok


def record(lines: list[str], seconds: int, rounds: int) -> None:
    info = machine_info()
    machine = ", ".join(f"{key} {value}" for key, value in info.items() if key != "date")
    section = [
        f"### Staff pages at 10,000 and 1,000,000 submissions ({info['date']})",
        "",
        f"Machine: {machine}.",
        "",
        "`python bench/bench_staff.py`: two hub stores built by `bench_export.build`, an admin"
        f" signed in, each page fetched by wrk (2 connections) for {seconds} s in each of"
        f" {rounds} rounds (/healthz first in each round); the median of the rounds' p50"
        " latency.",
        "",
        *lines,
        "",
    ]
    path = ROOT / "docs" / "benchmarks.md"
    path.write_text(path.read_text().rstrip("\n") + "\n\n" + "\n".join(section))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=2, help="wrk duration per page a round.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of every page (median).")
    parser.add_argument("--no-record", action="store_true", help="Do not touch docs/benchmarks.md.")
    parser.add_argument("--pages-only", action="store_true", help="Skip the import of the large.")
    args = parser.parse_args()
    figures = {}
    for rows in (args.small, args.large):
        path = prepared_store(rows)
        print(f"Pages at {rows:,} submissions", file=sys.stderr)
        figures[rows] = measure(path, args.seconds, args.rounds)
    imported = None
    if not args.pages_only:
        folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
        try:
            print(f"Import of {args.large:,} submissions", file=sys.stderr)
            imported = import_figures(prepared_store(args.large), folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    lines, ok = report(args.small, args.large, figures, imported)
    print("\n".join(lines))
    if not args.no_record:
        record(lines, args.seconds, args.rounds)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
