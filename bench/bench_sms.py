"""Benchmark the SMS webhook: signed inbound messages in the middle of conversations.

Starts `participate hub` on waitress (8 threads) with a Twilio auth token, seeds
conversations for many phone numbers, then has wrk cycle through a file of
precomputed, SDK-signed webhook requests (each with its own MessageSid, answering the
question each number is on, restarting with the keyword after the thanks). In the same
run it measures `GET /healthz`. Targets: at least 0.5 of /healthz's requests/s, and a
p99 under 50 ms, with 8 concurrent connections.

    python bench/bench_sms.py [--duration 10] [--runs 3] [--phones 400] [--no-append]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.harness import (  # noqa: E402
    append_results,
    compare,
    free_port,
    print_table,
    run_wrk,
    start_server,
)
from participate import consultations, store  # noqa: E402
from participate.app import create_app  # noqa: E402
from participate.sms import config as sms_config  # noqa: E402
from participate.sms import conversations  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
TOKEN = "bench-auth-token-0123456789abcdef"
PEPPER = "bench-pepper-0123456789abcdef"
PUBLIC_URL = "https://sms.bench.example.org"
WRK_THREADS = 2
CONNECTIONS = 8
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
# What a number answers at each step; the keyword restarts it after the thanks.
SCRIPT = ["2", "1,3", "yes", "4", "12", "Open later on Thursdays, please.", "HOURS"]

LUA = """
local file = %(file)s
local nthreads = %(threads)d
local next_id = 0
local requests = {}

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local i = 0
  local n = 0
  for line in io.lines(file) do
    -- Each wrk thread takes its own lines: no MessageSid is sent twice.
    if i %% nthreads == id then
      local signature, body = line:match("^([^\\t]*)\\t(.*)$")
      n = n + 1
      requests[n] = wrk.format("POST", "/sms/twilio", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    i = i + 1
  end
  total = n
  index = 0
end

function request()
  index = index %% total + 1
  return requests[index]
end
"""


def phone(number: int) -> str:
    """Return the bench's n-th phone number, in E.164."""
    return f"+1555{number:07d}"


def seed(db_path: Path, phones: int) -> None:
    """Load the example (without dates) and start a conversation for every number."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.pop("opens", None)
    with store.open_db(db_path, migrate=True) as db:
        consultations.save(db, [consultations.parse(data, "bench")])
    app = create_app({"DATABASE": str(db_path), "TWILIO_AUTH_TOKEN": TOKEN, "PHONE_PEPPER": PEPPER})
    settings = sms_config.get(app)
    with store.open_db(db_path) as db:
        for number in range(phones):
            inbound = conversations.Inbound(phone(number), "HOURS", f"SMseed{number:026d}")
            conversations.receive(db, settings, inbound)


def write_requests(path: Path, phones: int, start: int, count: int) -> None:
    """Write `count` signed webhook requests from global index `start`, round-robin, one a line."""
    validator = RequestValidator(TOKEN)
    url = PUBLIC_URL + "/sms/twilio"
    with path.open("w", encoding="utf-8") as out:
        for index in range(start, start + count):
            number, step = index % phones, index // phones
            params = {
                "MessageSid": f"SM{index:032d}",
                "AccountSid": "AC" + "0" * 32,
                "From": phone(number),
                "To": "+15555550100",
                "Body": SCRIPT[step % len(SCRIPT)],
                "NumMedia": "0",
                "NumSegments": "1",
                "ApiVersion": "2010-04-01",
            }
            signature = validator.compute_signature(url, params)
            out.write(f"{signature}\t{urlencode(params)}\n")


def processed(db_path: Path, phones: int) -> int:
    """Return how many benchmark messages the server has processed so far."""
    with store.open_db(db_path) as db:
        return db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0] - phones


def main() -> int:
    """Run the benchmark, print the figures and append them to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--phones", type=int, default=400, help="Numbers in conversation.")
    parser.add_argument(
        "--requests", type=int, default=40_000, help="Signed requests to precompute per run."
    )
    parser.add_argument("--runs", type=int, default=3, help="Pairs of wrk runs to make.")
    parser.add_argument("--no-append", action="store_true", help="Do not write the docs.")
    args = parser.parse_args()
    if args.phones % WRK_THREADS:
        parser.error(f"--phones must be a multiple of {WRK_THREADS}")

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "hub.db"
        seed(db_path, args.phones)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "PARTICIPATE_TWILIO_AUTH_TOKEN": TOKEN,
            "PARTICIPATE_PHONE_PEPPER": PEPPER,
            "PARTICIPATE_PUBLIC_URL": PUBLIC_URL,
        }
        # Default INFO logging, as in production: every reply's segments are logged.
        command = [sys.executable, "-m", "participate", "hub"]
        command += ["--db", str(db_path), "--port", str(port)]
        rows, ratios, p99s = [], [], []
        with start_server(command, base + "/healthz", env={**os.environ, **env}):
            for run in range(1, args.runs + 1):
                # Each run gets fresh MessageSids, carrying on each conversation where the
                # previous run left it (to within a round of the numbers).
                done = processed(db_path, args.phones)
                requests_file = Path(tmp) / f"requests-{run}.txt"
                write_requests(requests_file, args.phones, done - done % args.phones, args.requests)
                lua = LUA % {"file": '"' + str(requests_file) + '"', "threads": WRK_THREADS}
                suffix = f" (run {run})" if args.runs > 1 else ""
                health = run_wrk(
                    base + "/healthz",
                    connections=CONNECTIONS,
                    threads=WRK_THREADS,
                    duration=args.duration,
                    name="GET /healthz" + suffix,
                )
                inbound = run_wrk(
                    base + "/sms/twilio",
                    connections=CONNECTIONS,
                    threads=WRK_THREADS,
                    duration=args.duration,
                    lua_body=lua,
                    name="POST /sms/twilio (signed, mid-conversation)" + suffix,
                )
                if inbound["non_2xx"]:
                    print(f"run {run}: {inbound['non_2xx']} non-2xx answers", file=sys.stderr)
                rows += [health, inbound]
                ratios.append(compare(health, inbound)[0])
                p99s.append(inbound.get("p99_ms", float("inf")))
        with store.open_db(db_path) as db:
            completed = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
        total = processed(db_path, args.phones)
        wrapped = any(row["requests"] > args.requests for row in rows[1::2])

    print_table(rows)
    ratio, p99 = statistics.median(ratios), statistics.median(p99s)
    errors = sum(row["non_2xx"] + row["socket_errors"] for row in rows)
    ok = ratio >= TARGET_RATIO and p99 < TARGET_P99_MS and errors == 0
    verdict = (
        f"Median of {args.runs} run(s): {ratio:.2f} of /healthz's requests/s (target >="
        f" {TARGET_RATIO}), p99 {p99:.1f} ms (target < {TARGET_P99_MS:g} ms): "
        f"{'met' if ok else 'NOT met'}. Per run: ratios "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + "; p99 "
        + ", ".join(f"{p:.0f}" for p in p99s)
        + " ms."
    )
    print(verdict)
    print(
        f"{total} webhook messages processed, {completed} submissions completed"
        f"{' (a request file wrapped: repeats were duplicates)' if wrapped else ''}."
    )
    if not args.no_append:
        notes = (
            f"`python bench/bench_sms.py --duration {args.duration} --runs {args.runs}`:"
            " `participate hub`"
            f" (waitress, 8 threads) with a Twilio auth token; {args.phones} numbers each in"
            " a conversation; wrk cycles through precomputed SDK-signed webhook requests,"
            f" each with its own MessageSid, answering the current question ({CONNECTIONS}"
            f" connections, {WRK_THREADS} threads, {args.duration} s per run). {verdict}"
            f" {completed} submissions completed during the run."
        )
        append_results(ROOT / "docs" / "benchmarks.md", "SMS webhook", rows, notes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
