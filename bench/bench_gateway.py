"""Benchmark the gammu gateway: a text's file in the inbox to its reply's file in the outbox.

In the same run, the same conversations go through the signed Twilio webhook of a hub
(the baseline: a reply is ready when the TwiML answer arrives). Each side runs in a
process of its own as deployed (`participate.serve.serve`: waitress and the app's
scheduler). Each path takes `--texts` texts one after the other, round-robin over
`--phones` numbers, each number going keyword, six answers, keyword again, after one
text not timed. The gammu path is what a node runs: its watcher (`jobs.GammuWatcher`,
inotify on the daemon's folders, started with the node's scheduler) reads the file,
records the text and claims its first reply in one transaction, while the reply is
written aside in the outbox and synced to disk; once both are done the reply is
renamed in. The clock starts as the inbox file is renamed in whole (as the daemon's
file appears) and stops when inotify, in this process, reports the reply's file in the
outbox. gammu-smsd itself is not running, so the bench then does its part: once the
node has sent every reply of the text, it moves them to the sent folder and waits until
the node has settled them before the next text. The modem's send rate is lifted
(`SMS_GATEWAY_PER_MINUTE`): the bench measures the work, not a modem's pace. Target:
the gateway's median and p99 within 2x of the webhook's.

    python bench/bench_gateway.py [--texts 1000] [--phones 100] [--runs 1] [--no-append]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import inotify_simple  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.harness import append_results, free_port, print_table, start_server  # noqa: E402
from participate import consultations, fleet, store  # noqa: E402
from participate.sms import gammu, write_dummy_config  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
TOKEN = "bench-auth-token-0123456789abcdef"
PEPPER = "bench-pepper-0123456789abcdef"
SCRIPT = ["HOURS", "2", "1,3", "yes", "4", "12", "Open later on Thursdays, please."]
TARGET = 2.0


# Each side runs in its own process as deployed: `serve` (what `participate hub` and
# `participate node` run) starts waitress and the app's scheduler, whose listener starts
# the node's watcher on the modem's folders.
SERVE = """
import json, sys
from participate.app import create_app
from participate.serve import serve
serve(create_app(json.loads(sys.argv[1])), "127.0.0.1", int(sys.argv[2]))
"""


@contextlib.contextmanager
def serving(config: dict):
    """Serve an app in its own process as `participate hub`/`node` do; yield its port."""
    port = free_port()
    command = [sys.executable, "-c", SERVE, json.dumps(config), str(port)]
    with start_server(command, f"http://127.0.0.1:{port}/healthz", cwd=ROOT):
        yield port


def phone(number: int) -> str:
    return f"+1514555{number:04d}"


def texts(count: int, phones: int) -> list[tuple[str, str]]:
    """Return (number, body) for each text in order: round-robin over the numbers."""
    return [(phone(i % phones), SCRIPT[(i // phones) % len(SCRIPT)]) for i in range(count)]


def percentiles(samples: list[float], name: str) -> dict:
    ordered = sorted(samples)
    tenth = max(len(samples) // 10, 1)
    return {
        "name": name,
        "requests_per_s": len(samples) / sum(samples),
        "p50_ms": statistics.median(ordered) * 1000,
        "p90_ms": ordered[int(len(ordered) * 0.9) - 1] * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        # How the cost grows with what the store holds: the first texts against the last.
        "first_ms": statistics.median(samples[:tenth]) * 1000,
        "last_ms": statistics.median(samples[-tenth:]) * 1000,
    }


def new_store(path: Path) -> None:
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, consultations.read_files([EXAMPLE]))


def inbox_backup(number: str, body: str) -> bytes:
    """Return an inbox file as gammu-smsd writes it with `inboxformat = detail`."""
    return (
        "[SMSBackup000]\n"
        f'Number = "{number}"\n'
        f"Text00 = {body.encode('utf-16-be').hex().upper()}\n"
        "Coding = Default_No_Compression\n"
    ).encode()


def wait(condition, timeout: float = 30.0) -> None:
    """Wait until condition() holds; stop the bench if it never does (the watcher failed)."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("the node stopped answering")
        time.sleep(0.0005)


def unsettled(db_path: Path) -> int:
    """Count the replies the watcher has not yet sent and seen settled."""
    with store.open_db(db_path) as db:
        return db.execute(
            "SELECT count(*) FROM sms_outbound WHERE status IN ('queued', 'sending', 'accepted')"
        ).fetchone()[0]


def bench_gammu(workdir: Path, messages: list[tuple[str, str]]) -> list[float]:
    """Time each text from its inbox file appearing to its first reply file in the outbox."""
    config = write_dummy_config(workdir / "gammu")
    where = gammu.folders(config)
    db_path = workdir / "node.db"
    new_store(db_path)
    fleet.keep_pepper(db_path, PEPPER)
    node = {
        "DATABASE": str(db_path),
        "ROLE": "node",
        "SECRET_KEY": "bench",
        "SMS_GATEWAY": "gammu",
        "GAMMU_CONFIG": str(config),
        "SMS_GATEWAY_PER_MINUTE": 1e9,
        "SMS_QUIET_HOURS": "",
        "LOG_LEVEL": "WARNING",
    }
    outbox = inotify_simple.INotify()
    outbox.add_watch(where.outbox, inotify_simple.flags.MOVED_TO)
    samples = []
    try:
        with serving(node):
            # A first text, not timed: the watcher is watching once it is answered.
            first = inbox_backup("+15145559999", "HOURS")
            text(where, outbox, db_path, "IN20261128_095959_00_+15145559999_00.txt", first)
            for index, (number, body) in enumerate(messages):
                name = f"IN20261128_{100000 + index // 100:06d}_{index % 100:02d}_{number}_00.txt"
                samples.append(text(where, outbox, db_path, name, inbox_backup(number, body)))
    finally:
        outbox.close()
    return samples


def text(where, outbox, db_path: Path, name: str, content: bytes) -> float:
    """Text the node; return the time from the inbox file to the first reply file."""
    staging = where.inbox.parent / f".{name}"
    staging.write_bytes(content)
    started = time.perf_counter()
    os.replace(staging, where.inbox / name)  # the file appears whole, as the daemon's
    events = outbox.read(timeout=30_000)
    elapsed = time.perf_counter() - started
    if not any(event.name.startswith("OUT") for event in events):
        raise SystemExit("no reply in the outbox within 30 s")
    # The node is done with the text when none of its replies waits to be sent.
    wait(lambda: not list(where.inbox.glob("IN*")) and _sending(db_path) == 0)
    for sent in os.listdir(where.outbox):
        if sent.startswith("OUT"):  # what gammu-smsd does once it has sent them
            os.replace(where.outbox / sent, where.sent / sent)
    wait(lambda: unsettled(db_path) == 0)
    outbox.read(timeout=0)  # the replies after the first, seen above
    time.sleep(0.005)  # the watcher back to waiting, as the hub is between requests
    return elapsed


def _sending(db_path: Path) -> int:
    with store.open_db(db_path) as db:
        return db.execute(
            "SELECT count(*) FROM sms_outbound WHERE status IN ('queued', 'sending')"
        ).fetchone()[0]


def bench_twilio(workdir: Path, messages: list[tuple[str, str]]) -> list[float]:
    """Time each text as a signed webhook request to a hub served by waitress."""
    db_path = workdir / "hub.db"
    new_store(db_path)
    hub = {
        "DATABASE": str(db_path),
        "ROLE": "hub",
        "SECRET_KEY": "bench",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PHONE_PEPPER": PEPPER,
        "PUBLIC_URL": "https://sms.bench.example.org",
        "LOG_LEVEL": "WARNING",
    }
    validator = RequestValidator(TOKEN)
    url = "https://sms.bench.example.org/sms/twilio"
    samples = []
    with serving(hub) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            # A first text, not timed, as on the gammu path.
            warm_up = [("+15145559999", "HOURS")]
            for index, (number, body) in enumerate(warm_up + messages):
                params = {"MessageSid": f"SMbench{index:026d}", "From": number, "Body": body}
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": validator.compute_signature(url, params),
                }
                started = time.perf_counter()
                connection.request("POST", "/sms/twilio", urlencode(params), headers)
                response = connection.getresponse()
                response.read()
                if index:
                    samples.append(time.perf_counter() - started)
                if response.status != 200:
                    raise SystemExit(f"the webhook answered {response.status}")
        finally:
            connection.close()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--phones", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1, help="both paths, in turn, this often")
    parser.add_argument("--no-append", action="store_true")
    options = parser.parse_args()
    messages = texts(options.texts, options.phones)
    results, ratios = [], []
    for run in range(1, options.runs + 1):
        label = f" (run {run})" if options.runs > 1 else ""
        with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
            workdir = Path(tmp)
            name = "Twilio webhook (signed)" + label
            webhook = percentiles(bench_twilio(workdir, messages), name)
            modem = percentiles(
                bench_gammu(workdir, messages), "gammu: inbox file to outbox file" + label
            )
        results += [webhook, modem]
        ratios.append({key: modem[key] / webhook[key] for key in ("p50_ms", "p99_ms")})
    print_table(results)
    median = {key: statistics.median(r[key] for r in ratios) for key in ("p50_ms", "p99_ms")}
    verdict = "met" if all(ratio <= TARGET for ratio in median.values()) else "not met"
    each = "; ".join(f"{r['p50_ms']:.2f}x / {r['p99_ms']:.2f}x" for r in ratios)
    growth = "; ".join(
        f"{r['name']}: {r['first_ms']:.2f} -> {r['last_ms']:.2f} ms" for r in results
    )
    summary = (
        f"{options.texts} texts over {options.phones} numbers, one at a time, {options.runs}"
        f" run(s) of both paths in turn; the node's watcher (inotify). gammu / webhook, median"
        f" of the runs: median {median['p50_ms']:.2f}x, p99 {median['p99_ms']:.2f}x (target"
        f" {TARGET:g}x: {verdict}); each run, median / p99: {each}."
        " requests/s here is texts a second, one at a time. Median of the first tenth of"
        f" the texts -> the last tenth: {growth}."
    )
    print(summary)
    if not options.no_append:
        append_results(
            ROOT / "docs" / "benchmarks.md", "SMS gateway: gammu vs the Twilio webhook",
            results, notes=summary,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
