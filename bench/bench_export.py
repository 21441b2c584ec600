"""Benchmark: export submissions to CSV against `sqlite3 -csv` running the same query.

Builds a store with N submissions of the example consultation (default 1,000,000), then
in the same run times `sqlite3 -csv` on the export's own query (same columns, same
order, same file) and `participate export --format csv` in a child process that reports
its peak memory (ru_maxrss). Targets: within 2x sqlite3's time, peak memory < 150 MB.
The figures are appended to docs/benchmarks.md.

    python bench/bench_export.py [--rows 1000000] [--db PATH] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import machine_info  # noqa: E402
from participate import consultations, store  # noqa: E402
from participate.hub import export  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
TARGET_RATIO = 2.0
TARGET_MB = 150
COMMENTS = [
    "Open later on Thursdays please",
    "Plus de soirées, merci !",
    '=HYPERLINK("http://example.org")',
    "The reading room is too cold, and the café closes too early.",
    "Le dimanche serait idéal pour les familles.",
]

CHILD = r"""
import json, resource, sys, time
from participate.cli import main
started = time.perf_counter()
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps({"seconds": time.perf_counter() - started,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}),
          file=sys.stderr)
"""


def build(path: Path, rows: int, seconds_apart: int = 5) -> None:
    """Make a store holding `rows` submissions of the example (random but plausible answers)."""
    with store.open_db(path, migrate=True) as db:
        consultation = consultations.read_file(EXAMPLE)
        consultations.save(db, [consultation])
        version = consultation.version
    rng = random.Random(42)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")  # building the fixture only
    conn.execute("BEGIN")
    batch = []
    for seq in range(1, rows + 1):
        answers = {
            "visits": rng.choice(["weekly", "monthly", "rarely"]),
            "times": rng.sample(["mornings", "evenings", "sundays"], rng.randint(1, 3)),
            "evenings": rng.random() < 0.6,
            "rating": rng.randint(1, 5),
        }
        if rng.random() < 0.5:
            answers["hours_per_week"] = rng.randint(0, 40)
        if rng.random() < 0.3:
            answers["comments"] = rng.choice(COMMENTS)
        moment = (start + timedelta(seconds=seq * seconds_apart)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        sms = rng.random() < 0.3
        batch.append(
            (
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                consultation.id,
                version,
                "sms" if sms else "kiosk",
                "hub-sms" if sms else f"dev-{seq % 7}",
                seq,
                f"p-{rng.getrandbits(40):010x}" if sms else "",
                rng.choice(["en", "fr"]),
                moment,
                moment,
                moment,
                json.dumps(answers, sort_keys=True),
                int(rng.random() < 0.95),
            )
        )
        if len(batch) == 50_000:
            _insert(conn, batch)
            batch = []
            print(f"\r  built {seq:,} submissions", end="", file=sys.stderr, flush=True)
    _insert(conn, batch)
    conn.execute("COMMIT")
    conn.close()
    print(file=sys.stderr)


def _insert(conn: sqlite3.Connection, batch: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO submissions (id, consultation_id, consultation_version, channel, device_id,"
        " seq, respondent, language, started_at, submitted_at, received_at, answers, complete)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )


def literal(value: object) -> str:
    """Write a parameter as a SQL literal, for the sqlite3 command line."""
    if isinstance(value, bool | int | float):
        return str(int(value) if isinstance(value, bool) else value)
    return "'" + str(value).replace("'", "''") + "'"


def inline(sql: str, params: list) -> str:
    """Put the parameters into the SQL text, in order (none of the values holds a '?')."""
    parts = sql.split("?")
    assert len(parts) == len(params) + 1
    return "".join(
        part + (literal(p) if i < len(params) else "")
        for i, (part, p) in enumerate(zip(parts, [*params, None], strict=True))
    )


def run(rows: int, db_path: Path | None, record: bool) -> int:
    sqlite3_cli = shutil.which("sqlite3")
    if not sqlite3_cli:
        sys.exit("sqlite3 (the command-line shell) is not installed: apt-get install sqlite3")
    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        path = db_path or folder / "bench.db"
        if not path.exists():
            print(f"Building a store with {rows:,} submissions at {path}", file=sys.stderr)
            began = time.perf_counter()
            build(path, rows)
            print(f"  in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        with store.open_db(path) as db:
            plan = export.plan_export(db, "library-hours")
            count = plan.count(db)
            sql, params = plan.table_query()
        query = inline(sql, params)

        baseline_out = folder / "sqlite3.csv"
        with open(baseline_out, "wb") as out:
            baseline = _timed(
                [sqlite3_cli, "-csv", "-header", "-readonly", str(path), query], stdout=out
            )
        export_out = folder / "export.csv"
        command = [sys.executable, "-c", CHILD, "export", "--db", str(path)]
        command += ["--consultation", "library-hours", "--format", "csv", "-o", str(export_out)]
        exported = _timed(command, stderr=subprocess.PIPE)
        report = json.loads(exported["stderr"].strip().splitlines()[-1])
        peak_mb = report["maxrss_kb"] / 1024

        lines_sqlite = _count_lines(baseline_out)
        lines_export = _count_lines(export_out)
        # CPU seconds (user + system) decide: this machine is shared, and other work
        # stretches wall-clock time unevenly between two runs; both are reported.
        ratio = exported["cpu"] / baseline["cpu"]
        wall_ratio = exported["wall"] / baseline["wall"]
        ok = ratio <= TARGET_RATIO and peak_mb < TARGET_MB
        table = [
            "| run | CPU seconds | wall seconds | peak memory | file size | CSV records |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| sqlite3 -csv (same query) | {baseline['cpu']:.2f} | {baseline['wall']:.2f} | —"
            f" | {baseline_out.stat().st_size / 1e6:.0f} MB | {lines_sqlite:,} |",
            f"| participate export --format csv | {exported['cpu']:.2f} | {exported['wall']:.2f}"
            f" | {peak_mb:.0f} MB | {export_out.stat().st_size / 1e6:.0f} MB | {lines_export:,} |",
        ]
        verdict = (
            f"{count:,} submissions. Export CPU time is {ratio:.2f}x sqlite3's (wall"
            f" {wall_ratio:.2f}x; target ≤ {TARGET_RATIO}x); peak memory {peak_mb:.0f} MB"
            f" (target < {TARGET_MB} MB): {'met' if ok else 'NOT met'}."
        )
        print("\n".join(table))
        print(verdict)
        if record:
            _append(table, verdict)
        return 0 if ok else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _timed(command: list[str], **kwargs: object) -> dict:
    """Run a command to completion; return its wall and CPU seconds (and stderr if piped)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, check=True, text=True, cwd=ROOT, **kwargs)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "stderr": done.stderr or ""}


def _count_lines(path: Path) -> int:
    # Records, not physical lines: answers may hold newlines inside quotes.
    import csv

    with open(path, newline="", encoding="utf-8-sig") as handle:
        return sum(1 for _ in csv.reader(handle))


def _append(table: list[str], verdict: str) -> None:
    info = machine_info()
    machine = ", ".join(f"{key} {value}" for key, value in info.items() if key != "date")
    section = [
        f"### Export to CSV vs sqlite3 -csv ({info['date']})",
        "",
        f"Machine: {machine}.",
        "",
        "`python bench/bench_export.py`: one store; `sqlite3 -csv` runs the export's own"
        " SELECT (the same cells, formulas neutralised, same order), then `participate export"
        " --format csv` runs in a child process that reports its peak RSS (ru_maxrss)."
        " Seconds include process start-up; the verdict uses CPU seconds because the machine"
        " is shared and wall time varies with the load.",
        "",
        *table,
        "",
        verdict,
        "",
    ]
    path = ROOT / "docs" / "benchmarks.md"
    existing = path.read_text() if path.exists() else "# Benchmarks\n"
    path.write_text(existing.rstrip("\n") + "\n\n" + "\n".join(section))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="Reuse (or build) this store.")
    parser.add_argument("--no-record", action="store_true", help="Do not touch docs/benchmarks.md.")
    args = parser.parse_args()
    sys.exit(run(args.rows, args.db, not args.no_record))


if __name__ == "__main__":
    main()
