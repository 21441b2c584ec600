"""Benchmark the kiosk's final submit: each request records a different visit's submission.

Starts `participate node` on waitress (8 threads; its hub is an unreachable local port,
so sync fails quietly and submissions wait in the store, as offline), pre-creates visits
with every question answered, then has wrk send each visit's final `POST /submit` once
(a distinct visit token per request). In the same run it measures `GET /healthz`.
Targets: at least 0.5 of /healthz's requests/s, and a p99 under 50 ms, with 8
concurrent connections.

    python bench/bench_kiosk.py [--duration 10] [--visits 40000] [--no-append]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.harness import (  # noqa: E402
    append_results,
    compare,
    free_port,
    print_table,
    run_wrk,
    start_server,
)
from participate import consultations, store  # noqa: E402
from participate.kiosk import visits  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
DEVICE = "bench-kiosk-node"
WRK_THREADS = 2
CONNECTIONS = 8
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
ANSWERS = {
    "visits": "weekly",
    "times": ["mornings", "sundays"],
    "evenings": True,
    "rating": 4,
    "hours_per_week": 6,
    "comments": "Plus de bancs près des fenêtres, s'il vous plaît.",
}

LUA = """
local file = %(file)s
local nthreads = %(threads)d
local next_id = 0
local bodies = {}

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local i = 0
  local n = 0
  for token in io.lines(file) do
    -- Each wrk thread takes its own tokens: no visit is submitted twice.
    if i %% nthreads == id then
      n = n + 1
      bodies[n] = "visit=" .. token
    end
    i = i + 1
  end
  total = n
  index = 0
end

function request()
  index = index %% total + 1
  return wrk.format("POST", "/submit",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, bodies[index])
end
"""


def seed(db_path: Path, count: int, tokens_file: Path) -> None:
    """Load the example (without dates) and start `count` visits with every answer given."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.pop("opens", None)
    consultation = consultations.parse(data, "bench")
    with store.open_db(db_path, migrate=True) as db:
        consultations.save(db, [consultation])
        store.set_meta(db, "device_id", DEVICE)
        with store.write(db), tokens_file.open("w") as out:
            for _ in range(count):
                visit = visits.start(db, consultation, language="fr")
                for question_id, value in ANSWERS.items():
                    visits.set_answer(db, visit, question_id, value)
                out.write(visit.token + "\n")
        # Start the runs with an empty WAL, not with the seeding's to checkpoint.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def main() -> int:
    """Run the benchmark, print the figures and append them to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--runs", type=int, default=3, help="Pairs of runs; the median counts.")
    parser.add_argument("--visits", type=int, default=60_000, help="Visits to pre-create.")
    parser.add_argument("--no-append", action="store_true", help="Do not write the docs.")
    args = parser.parse_args()

    rows: list[dict] = []
    pairs: list[tuple[dict, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "node.db"
        tokens_file = Path(tmp) / "tokens.txt"
        seed(db_path, args.visits, tokens_file)
        lua = LUA % {"file": '"' + str(tokens_file) + '"', "threads": WRK_THREADS}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # Visits must not expire during the run; sync has no hub to reach (port 9 refuses).
        env = {"PARTICIPATE_KIOSK_IDLE_SECONDS": "3600", "PARTICIPATE_LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-m", "participate", "--log-level", "WARNING", "node"]
        command += ["--db", str(db_path), "--port", str(port), "--hub", "http://127.0.0.1:9"]
        command += ["--device-id", DEVICE, "--device-secret", "bench-secret-not-a-real-one"]
        per_run = args.visits // (args.runs * WRK_THREADS)  # tokens per wrk thread per run
        with start_server(command, base + "/healthz", env={**os.environ, **env}):
            for run in range(1, args.runs + 1):
                health = run_wrk(
                    base + "/healthz",
                    connections=CONNECTIONS,
                    threads=WRK_THREADS,
                    duration=args.duration,
                    name=f"GET /healthz (run {run})",
                )
                # Each run takes the next tokens: wrk threads start from the file's top,
                # so earlier runs' visits come back as (cheaper) idempotent replays.
                submit = run_wrk(
                    base + "/submit",
                    connections=CONNECTIONS,
                    threads=WRK_THREADS,
                    duration=args.duration,
                    lua_body=lua.replace("index = 0", f"index = {(run - 1) * per_run}"),
                    name=f"POST /submit, a new visit each (run {run})",
                )
                rows += [health, submit]
                pairs.append((health, submit))
        with store.open_db(db_path) as db:
            recorded = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
            devices = db.execute("SELECT DISTINCT device_id FROM submissions").fetchall()

    print_table(rows)
    ratios = sorted(compare(health, submit)[0] for health, submit in pairs)
    p99s = sorted(submit.get("p99_ms", float("inf")) for _, submit in pairs)
    ratio, p99 = statistics.median(ratios), statistics.median(p99s)
    sent = sum(submit["requests"] for _, submit in pairs)
    ok = (
        ratio >= TARGET_RATIO
        and p99 < TARGET_P99_MS
        and all(s["non_2xx"] == 0 and s["socket_errors"] == 0 for _, s in pairs)
    )
    verdict = (
        f"Median of {args.runs} runs: ratio {ratio:.2f} of /healthz (target >="
        f" {TARGET_RATIO}), p99 {p99:.1f} ms (target < {TARGET_P99_MS:g} ms):"
        f" {'met' if ok else 'NOT met'}."
    )
    print(verdict)
    print(f"{sent} submits sent, {recorded} submissions recorded, one per distinct visit.")
    # Every submit names a visit; replays (if the runs overlap) record nothing new.
    if not 0 < recorded <= min(sent + CONNECTIONS * args.runs, args.visits):
        print("ERROR: the store does not hold one submission per visit submitted")
        return 1
    if devices != [(DEVICE,)]:
        print(f"ERROR: unexpected device ids {devices}")
        return 1
    if not args.no_append:
        notes = (
            f"`python bench/bench_kiosk.py --duration {args.duration} --runs {args.runs}`:"
            " `participate node` (waitress, 8 threads, hub unreachable); wrk sends"
            " pre-created visits' final `POST /submit` (6 answers validated, recorded in one"
            " `synchronous=FULL` transaction shared with concurrent submits, 303 to the"
            f" thank-you screen), alternating with `GET /healthz`, {CONNECTIONS} connections,"
            f" {WRK_THREADS} wrk threads. {recorded} submissions recorded. {verdict}"
        )
        append_results(ROOT / "docs" / "benchmarks.md", "Kiosk final submit", rows, notes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
