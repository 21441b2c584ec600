"""Benchmark the gammu gateway: a text's file in the inbox to its reply's file in the outbox.

In the same run, the same conversations go through the signed Twilio webhook of a hub
served by waitress (the baseline: a reply is ready when the TwiML answer arrives).
Each path takes `--texts` texts one after the other, round-robin over `--phones`
numbers, each number going keyword, six answers, keyword again. The gammu path is what
a node runs: its watcher (`jobs.GammuWatcher`, inotify on the daemon's folders) reads
the file, records the text and claims its first reply in one transaction, and writes
the reply to the outbox (fsynced, then renamed in). The clock starts as the inbox file
is renamed in whole (as the daemon's file appears) and stops when inotify reports the
reply's file in the outbox; gammu-smsd itself is not running, so the bench then does
its part: once the watcher has sent every reply of the text, it moves them to the sent
folder, and waits until the watcher has settled them before the next text. The modem's
send rate is lifted (`SMS_GATEWAY_PER_MINUTE`): the bench measures the work, not a
modem's pace. Target: the gateway's median and p99 within 2x of the webhook's.

    python bench/bench_gateway.py [--texts 1000] [--phones 100] [--runs 1] [--no-append]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import inotify_simple  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.harness import append_results, print_table  # noqa: E402
from participate import consultations, fleet, sms, store  # noqa: E402
from participate.app import create_app  # noqa: E402
from participate.serve import make_server  # noqa: E402
from participate.sms import gammu, jobs, write_dummy_config  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
TOKEN = "bench-auth-token-0123456789abcdef"
PEPPER = "bench-pepper-0123456789abcdef"
SCRIPT = ["HOURS", "2", "1,3", "yes", "4", "12", "Open later on Thursdays, please."]
TARGET = 2.0


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
            raise SystemExit("the gateway's watcher stopped answering: see its log above")
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
    app = create_app(
        {
            "DATABASE": str(db_path),
            "ROLE": "node",
            "SECRET_KEY": "bench",
            "SMS_GATEWAY": "gammu",
            "GAMMU_CONFIG": str(config),
            "SMS_GATEWAY_PER_MINUTE": 1e9,
            "SMS_QUIET_HOURS": "",
            "LOG_LEVEL": "WARNING",
        }
    )
    # The node's own watcher, as `sms.schedule` starts it with the node's scheduler.
    watcher = jobs.GammuWatcher(app, sms.GAMMU_POLL_SECONDS)
    watcher.start()
    outbox = inotify_simple.INotify()
    outbox.add_watch(where.outbox, inotify_simple.flags.MOVED_TO)
    samples = []
    try:
        wait(lambda: watcher.watch.watching)
        for index, (number, body) in enumerate(messages):
            name = f"IN20261128_{100000 + index // 100:06d}_{index % 100:02d}_{number}_00.txt"
            staging = where.inbox.parent / f".{name}"
            staging.write_bytes(inbox_backup(number, body))
            started = time.perf_counter()
            os.replace(staging, where.inbox / name)  # the file appears whole, as the daemon's
            events = outbox.read(timeout=30_000)
            samples.append(time.perf_counter() - started)
            if not any(event.name.startswith("OUT") for event in events):
                raise SystemExit("no reply in the outbox: see the watcher's log above")
            # The watcher is done with the text when none of its replies waits to be sent.
            wait(lambda: not list(where.inbox.glob("IN*")) and _sending(db_path) == 0)
            for sent in os.listdir(where.outbox):
                if sent.startswith("OUT"):  # what gammu-smsd does once it has sent them
                    os.replace(where.outbox / sent, where.sent / sent)
            wait(lambda: unsettled(db_path) == 0)
            outbox.read(timeout=0)  # the replies after the first, seen above
            time.sleep(0.005)  # the watcher back to waiting, as the hub is between requests
    finally:
        watcher.stop()
        outbox.close()
    return samples


def _sending(db_path: Path) -> int:
    with store.open_db(db_path) as db:
        return db.execute(
            "SELECT count(*) FROM sms_outbound WHERE status IN ('queued', 'sending')"
        ).fetchone()[0]


def bench_twilio(workdir: Path, messages: list[tuple[str, str]]) -> list[float]:
    """Time each text as a signed webhook request to a hub served by waitress."""
    db_path = workdir / "hub.db"
    new_store(db_path)
    app = create_app(
        {
            "DATABASE": str(db_path),
            "ROLE": "hub",
            "SECRET_KEY": "bench",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PHONE_PEPPER": PEPPER,
            "PUBLIC_URL": "https://sms.bench.example.org",
            "LOG_LEVEL": "WARNING",
        }
    )
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    validator = RequestValidator(TOKEN)
    url = "https://sms.bench.example.org/sms/twilio"
    connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=30)
    samples = []
    try:
        for index, (number, body) in enumerate(messages):
            params = {"MessageSid": f"SMbench{index:026d}", "From": number, "Body": body}
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(url, params),
            }
            started = time.perf_counter()
            connection.request("POST", "/sms/twilio", urlencode(params), headers)
            response = connection.getresponse()
            response.read()
            samples.append(time.perf_counter() - started)
            if response.status != 200:
                raise SystemExit(f"the webhook answered {response.status}")
    finally:
        connection.close()
        server.close()
        thread.join(5)
        server.task_dispatcher.shutdown()  # its worker threads, idle, would stay
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
