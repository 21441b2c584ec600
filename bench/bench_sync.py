"""Benchmark the sync drain: a node with a week's backlog pushing to a real hub over HTTP.

Compares submissions/s of the drain (node store -> signed gzip batches -> waitress hub ->
hub store, acknowledgements marked on the node) with inserting the same rows straight
into a fresh hub store with sqlite-utils `insert_all` in one transaction, in the same
run. Target: the drain reaches at least 0.3 of the direct insert.

    python bench/bench_sync.py [--count 100000] [--batch-size 500] [--no-append]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from participate import answers as answer_rules  # noqa: E402
from participate import clock, consultations, store  # noqa: E402
from participate.sync import (  # noqa: E402
    devices,
    node,
    receive,
)
from participate.sync.client import HubClient  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
TARGET = 0.3


def random_answers(rng: random.Random) -> dict:
    """Return one plausible, valid set of answers to the example consultation."""
    answer = {
        "visits": rng.choice(["weekly", "monthly", "rarely"]),
        "times": rng.sample(["mornings", "evenings", "sundays"], rng.randint(1, 3)),
        "evenings": rng.random() < 0.5,
        "rating": rng.randint(1, 5),
    }
    if rng.random() < 0.5:
        answer["hours_per_week"] = rng.randint(0, 80)
    if rng.random() < 0.3:
        answer["comments"] = rng.choice(
            ["Plus tard le soir, s'il vous plaît.", "Open on Sundays!", "Très bien « merci »"]
        )
    return answer


def make_backlog(db, consultation, device_id: str, count: int, seed: int = 1) -> None:
    """Queue `count` validated kiosk submissions on a node store, as `record` would store them."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    rows = []
    for seq in range(1, count + 1):
        moment = start + timedelta(seconds=seq * 6)
        clean = answer_rules.validate_answers(consultation, random_answers(rng))
        rows.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "consultation_id": consultation.id,
                "consultation_version": consultation.version,
                "channel": "kiosk",
                "device_id": device_id,
                "seq": seq,
                "respondent": "",
                "language": rng.choice(["en", "fr"]),
                "started_at": clock.to_text(moment - timedelta(seconds=90)),
                "submitted_at": clock.to_text(moment),
                "received_at": None,
                "answers": json.dumps(clean, ensure_ascii=False, sort_keys=True),
                "complete": 1,
            }
        )
    with store.write(db):
        db["submissions"].insert_all(rows, batch_size=1000)


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_hub(db_path: Path, port: int) -> subprocess.Popen:
    """Start `participate hub` on waitress and wait until /healthz answers."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "participate",
            "--log-level",
            "WARNING",
            "hub",
            "--db",
            str(db_path),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PARTICIPATE_SECRET_KEY": "bench"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the hub exited with status {process.returncode}")
        try:
            with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the hub did not start")


def run(count: int, batch_size: int, workdir: Path) -> dict:
    """Run both measurements once and return the figures."""
    consultation = consultations.read_file(EXAMPLE)
    hub_path, node_path, direct_path = (workdir / n for n in ("hub.db", "node.db", "direct.db"))
    with store.open_db(hub_path, migrate=True) as hub:
        consultations.save(hub, [consultation])
        device_id, secret = devices.add_device(hub, "bench node")
    node_db = store.open_db(node_path, migrate=True)
    consultations.save(node_db, [consultation])
    store.set_meta(node_db, "device_id", device_id)
    make_backlog(node_db, consultation, device_id, count)

    # The same rows, as the hub would hold them, for the direct insert.
    stored = node_db.query("SELECT * FROM submissions ORDER BY seq")
    rows = [{name: row[name] for name in (*receive.PUSH_FIELDS, "received_at")} for row in stored]
    received = clock.utcnow()
    for row in rows:
        row["received_at"] = received
    with store.open_db(direct_path, migrate=True) as direct:
        consultations.save(direct, [consultation])
        started = time.perf_counter()
        with store.write(direct):
            direct["submissions"].insert_all(rows, batch_size=1000)
        direct_seconds = time.perf_counter() - started
        assert direct.execute("SELECT count(*) FROM submissions").fetchone()[0] == count

    port = free_port()
    hub_process = start_hub(hub_path, port)
    try:
        with HubClient(f"http://127.0.0.1:{port}", device_id, secret) as client:
            started = time.perf_counter()
            report = node.push(node_db, client, batch_size=batch_size)
            drain_seconds = time.perf_counter() - started
    finally:
        hub_process.terminate()
        hub_process.wait(10)
    assert report.stored == count and report.remaining == 0, report
    with store.open_db(hub_path) as hub:
        assert hub.execute("SELECT count(*) FROM submissions").fetchone()[0] == count
        assert devices.ledger_gaps(hub, device_id, count) == []
    node_db.close()
    drain_rate = count / drain_seconds
    direct_rate = count / direct_seconds
    return {
        "count": count,
        "batch_size": batch_size,
        "drain_seconds": drain_seconds,
        "drain_rate": drain_rate,
        "direct_seconds": direct_seconds,
        "direct_rate": direct_rate,
        "ratio": drain_rate / direct_rate,
        "batches": report.batches,
    }


def append_results(figures: dict, path: Path) -> None:
    """Append this run's figures to docs/benchmarks.md."""
    verdict = "meets" if figures["ratio"] >= TARGET else "MISSES"
    lines = [
        "",
        f"### Sync drain, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`python bench/bench_sync.py --count {figures['count']}"
        f" --batch-size {figures['batch_size']}` on {platform.node()}"
        f" ({os.cpu_count()} CPUs, Python {platform.python_version()}).",
        "",
        "| measurement | submissions | seconds | submissions/s |",
        "| --- | ---: | ---: | ---: |",
        f"| node drain over HTTP (signed gzip batches, waitress hub, {figures['batches']}"
        f" batches) | {figures['count']} | {figures['drain_seconds']:.2f}"
        f" | {figures['drain_rate']:,.0f} |",
        f"| `insert_all` into a fresh hub store, one transaction | {figures['count']}"
        f" | {figures['direct_seconds']:.2f} | {figures['direct_rate']:,.0f} |",
        "",
        f"Ratio {figures['ratio']:.2f} (target {TARGET}): {verdict} the target.",
        "",
    ]
    if not path.exists():
        path.write_text("# Benchmarks\n", encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    if "## Sync" not in text:
        lines[0:1] = ["", "## Sync: draining a node's backlog", ""]
    with path.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines))


def main() -> int:
    """Parse arguments, run the benchmark, print and record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=node.BATCH_SIZE)
    parser.add_argument("--no-append", action="store_true", help="Do not write docs/.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        figures = run(args.count, args.batch_size, Path(tmp))
    for label in ("drain", "direct"):
        rate, seconds = figures[f"{label}_rate"], figures[f"{label}_seconds"]
        print(f"{label:<7}{rate:>10,.0f} submissions/s ({seconds:.2f} s)")
    print(f"ratio  {figures['ratio']:.2f} (target {TARGET})")
    if not args.no_append:
        append_results(figures, ROOT / "docs" / "benchmarks.md")
    return 0 if figures["ratio"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
