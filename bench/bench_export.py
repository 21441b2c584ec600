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
from hub import export  # noqa: E402
from participate import consultations, store  # noqa: E402

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


def build(path: Path, rows: int) -> None:
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
        moment = (start + timedelta(seconds=seq * 5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
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
        began = time.perf_counter()
        with open(baseline_out, "wb") as out:
            subprocess.run(
                [sqlite3_cli, "-csv", "-header", "-readonly", str(path), query],
                stdout=out,
                check=True,
            )
        baseline = time.perf_counter() - began

        export_out = folder / "export.csv"
        began = time.perf_counter()
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                "export",
                "--db",
                str(path),
                "--consultation",
                "library-hours",
                "--format",
                "csv",
                "-o",
                str(export_out),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        elapsed = time.perf_counter() - began
        report = json.loads(child.stderr.strip().splitlines()[-1])
        peak_mb = report["maxrss_kb"] / 1024

        lines_sqlite = _count_lines(baseline_out)
        lines_export = _count_lines(export_out)
        ratio = elapsed / baseline
        ok = ratio <= TARGET_RATIO and peak_mb < TARGET_MB
        rows_table = [
            (
                "sqlite3 -csv (same query)",
                baseline,
                None,
                baseline_out.stat().st_size,
                lines_sqlite,
            ),
            (
                "participate export --format csv",
                elapsed,
                peak_mb,
                export_out.stat().st_size,
                lines_export,
            ),
        ]
        table = [
            "| run | seconds | peak memory | file size | lines |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, seconds, mb, size, lines in rows_table:
            table.append(
                f"| {name} | {seconds:.2f} | {f'{mb:.0f} MB' if mb else '—'} |"
                f" {size / 1e6:.0f} MB | {lines:,} |"
            )
        verdict = (
            f"{count:,} submissions. Export time is {ratio:.2f}x sqlite3's"
            f" (target ≤ {TARGET_RATIO}x); peak memory {peak_mb:.0f} MB"
            f" (target < {TARGET_MB} MB): {'met' if ok else 'NOT met'}."
        )
        print("\n".join(table))
        print(verdict)
        if record:
            _append(table, verdict, report)
        return 0 if ok else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _count_lines(path: Path) -> int:
    # Records, not physical lines: answers may hold newlines inside quotes.
    import csv

    with open(path, newline="", encoding="utf-8-sig") as handle:
        return sum(1 for _ in csv.reader(handle))


def _append(table: list[str], verdict: str, report: dict) -> None:
    info = machine_info()
    machine = ", ".join(f"{key} {value}" for key, value in info.items() if key != "date")
    section = [
        f"## Export to CSV vs sqlite3 -csv ({info['date']})",
        "",
        f"Machine: {machine}.",
        "",
        "`python bench/bench_export.py`: the same store, the export's own SELECT (every column,"
        " formulas neutralised, same order) run by `sqlite3 -csv`, then `participate export"
        " --format csv` in a child process that reports its ru_maxrss. Wall-clock seconds,"
        " including process start-up.",
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
