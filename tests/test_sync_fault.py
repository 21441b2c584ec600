"""Fault test: a hub and three nodes as real processes, a faulty network, SIGKILLs; nothing lost.

The hub runs `participate hub`; each node runs this file as a script (`node` mode): the
app a `participate node` builds, its real sync schedule, and a loop that makes kiosk
submissions through `participate.submissions.record` and writes each id to an
acknowledgement log once it is committed (what the kiosk does before it says "thank
you"). Between them, tests/support/faultproxy.py delays, drops, resets and cuts
connections, including after the hub handled a request and before its answer. The hub
and the nodes are killed with SIGKILL and restarted, at moments drawn from the seed.

When the faults stop and the queues drain, the hub must hold exactly the submissions the
nodes acknowledged, once each, byte-identical, with no gap in any node's ledger.

CI runs one fixed seed. By hand, a longer run over many seeds:

    SYNC_FAULT_SEEDS=1-20 SYNC_FAULT_SUBMISSIONS=3000 python -m pytest tests/test_sync_fault.py
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # when run as a script (node mode)
    sys.path.insert(0, str(ROOT))

from participate import consultations, store  # noqa: E402
from participate.sync import (  # noqa: E402
    devices,
    receive,
)
from tests.support.faultproxy import FaultProxy  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
NODES = 3
DEFAULT_SEED = 20261122
# Compared byte for byte between each node and the hub (received_at is the hub's own).
SELECT_FIELDS = "SELECT " + ", ".join(receive.PUSH_FIELDS) + " FROM submissions"  # noqa: S608


def _seeds() -> list[int]:
    spec = os.environ.get("SYNC_FAULT_SEEDS", "")
    if not spec:
        return [DEFAULT_SEED]
    if "-" in spec:
        first, last = (int(x) for x in spec.split("-", 1))
        return list(range(first, last + 1))
    return [int(x) for x in spec.split(",")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """The processes of one run: a hub, nodes, and the proxy between them."""

    def __init__(self, workdir: Path, seed: int, per_node: int, pace: float) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.per_node = per_node
        self.pace = pace  # mean seconds between two submissions on a node
        self.hub_db = workdir / "hub.db"
        self.hub: subprocess.Popen | None = None
        self.hub_port = 0
        self.nodes: dict[int, subprocess.Popen] = {}
        self.enrolment: list[tuple[str, str]] = []
        self.kills = {"hub": 0, "node": 0, "node with a queue": 0}
        with store.open_db(self.hub_db, migrate=True) as db:
            consultations.save(db, consultations.read_files([EXAMPLE]))
            for index in range(NODES):
                self.enrolment.append(devices.add_device(db, f"Kiosk {index + 1}"))
        self.proxy = FaultProxy(1, seed=seed, max_delay=0.3, stall=3.0)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.workdir / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )

    def start_hub(self) -> None:
        # A free port can be taken between choosing and binding it: try another.
        for _attempt in range(3):
            if self._try_start_hub():
                return
        raise AssertionError("the hub did not start:\n" + self.tail("hub"))

    def _try_start_hub(self) -> bool:
        self.hub_port = _free_port()
        self.hub = self._spawn(
            "hub",
            ["-m", "participate", "--log-level", "WARNING", "hub", "--db", str(self.hub_db)]
            + ["--port", str(self.hub_port), "--threads", "4"],
            {"PARTICIPATE_SECRET_KEY": "fault-test"},
        )
        self.proxy.upstream = ("127.0.0.1", self.hub_port)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.hub.poll() is None:
            try:
                with urlopen(f"http://127.0.0.1:{self.hub_port}/healthz", timeout=2):
                    return True
            except OSError:
                time.sleep(0.1)
        self.kill(self.hub)
        return False

    def start_node(self, index: int) -> None:
        device_id, secret = self.enrolment[index]
        self.nodes[index] = self._spawn(
            f"node{index}",
            [str(Path(__file__).resolve()), "node", str(self.workdir / f"node{index}.db")]
            + [self.proxy.url, device_id, str(self.per_node), str(self.rng.randrange(1 << 30))]
            + [str(self.workdir / f"node{index}.acks"), str(self.pace)],
            {"PARTICIPATE_DEVICE_SECRET": secret},
        )

    def kill(self, process: subprocess.Popen | None) -> None:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)

    def stop(self) -> None:
        for process in [*self.nodes.values(), self.hub]:
            self.kill(process)
        self.proxy.stop()

    def chaos(self, seconds: float) -> None:
        """Kill and restart the hub and nodes at random moments, for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(self.rng.uniform(1.0, 3.0))
            event = self.rng.random()
            if event < 0.3:
                self.kills["hub"] += 1
                self.kill(self.hub)
                time.sleep(self.rng.uniform(0.2, 1.5))
                self.start_hub()
            elif event < 0.75:
                index = self.rng.randrange(NODES)
                self.kills["node"] += 1
                if self.queued(index):
                    self.kills["node with a queue"] += 1
                self.kill(self.nodes[index])
                time.sleep(self.rng.uniform(0.1, 1.0))
                self.start_node(index)
            for index, process in self.nodes.items():
                assert process.poll() is None or process.returncode == 0, self.tail(f"node{index}")
            assert self.hub is not None and self.hub.poll() is None, self.tail("hub")

    def tail(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def node_rows(self, index: int) -> dict[str, tuple]:
        with store.open_db(self.workdir / f"node{index}.db") as db:
            return {row[0]: row for row in db.execute(SELECT_FIELDS).fetchall()}

    def queued(self, index: int) -> int:
        """Return how many submissions a node holds that the hub has not acknowledged."""
        path = self.workdir / f"node{index}.db"
        if not path.exists():
            return 0
        with store.open_db(path) as db:
            return db.execute(
                "SELECT count(*) FROM submissions WHERE synced_at IS NULL"
            ).fetchone()[0]

    def progress(self) -> dict[str, int]:
        """Count what the nodes made, what they still queue, and what the hub holds."""
        with store.open_db(self.hub_db) as hub:
            held = hub.execute("SELECT count(*) FROM submissions").fetchone()[0]
        made = queued = short = 0
        for index in range(NODES):
            with store.open_db(self.workdir / f"node{index}.db") as db:
                node_made, node_queued = db.execute(
                    "SELECT count(*), count(*) FILTER (WHERE synced_at IS NULL) FROM submissions"
                ).fetchone()
            made += node_made
            queued += node_queued
            short += max(0, self.per_node - node_made)
        return {"made": made, "queued": queued, "still to make": short, "held": held}

    def settled(self) -> bool:
        """Say whether every node made its submissions and the hub holds them all."""
        progress = self.progress()
        return (
            not progress["queued"]
            and not progress["still to make"]
            and progress["held"] == progress["made"]
        )


@pytest.mark.slow  # about 45 s a seed
@pytest.mark.parametrize("seed", _seeds())
def test_nothing_acknowledged_is_lost_or_doubled_under_faults(tmp_path, seed):
    per_node = int(os.environ.get("SYNC_FAULT_SUBMISSIONS", "1000"))
    chaos_seconds = float(os.environ.get("SYNC_FAULT_SECONDS", "35"))
    # Spread the submissions over the faulty period, so kills land while nodes work.
    cluster = Cluster(tmp_path, seed, per_node, pace=0.9 * chaos_seconds / per_node)
    cluster.proxy.start()
    try:
        cluster.start_hub()
        for index in range(NODES):
            cluster.start_node(index)
        cluster.chaos(chaos_seconds)

        # Let it settle: a clean network, every process up, until the queues are empty.
        cluster.proxy.faulty = False
        for index, process in cluster.nodes.items():
            if process.poll() is not None:
                cluster.start_node(index)
        deadline = time.monotonic() + float(os.environ.get("SYNC_FAULT_SETTLE", "150"))
        while not cluster.settled():
            assert time.monotonic() < deadline, (
                f"did not settle: {cluster.progress()}\n"
                + "\n".join(cluster.tail(name) for name in ("hub", "node0", "node1", "node2"))
            )
            time.sleep(1)
    finally:
        cluster.stop()

    faults = cluster.proxy.counts
    assert cluster.kills["hub"] >= 1 and cluster.kills["node with a queue"] >= 1, cluster.kills
    for fault in ("delay", "drop", "reset", "cut_request", "cut_response"):
        assert faults[fault] > 0, faults

    with store.open_db(cluster.hub_db) as hub:
        hub_rows = {row[0]: row for row in hub.execute(SELECT_FIELDS).fetchall()}
        for index, (device_id, _) in enumerate(cluster.enrolment):
            node_rows = cluster.node_rows(index)
            acknowledged = (tmp_path / f"node{index}.acks").read_text().split()
            # Every submission the kiosk thanked someone for is on the node...
            assert set(acknowledged) <= set(node_rows)
            assert len(node_rows) >= per_node
            # ...and at the hub, once, byte-identical; the hub holds nothing else from it.
            from_device = {k: v for k, v in hub_rows.items() if v[4] == device_id}
            assert from_device == node_rows
            assert devices.ledger_gaps(hub, device_id, len(node_rows)) == []
            seqs = sorted(row[5] for row in node_rows.values())
            assert seqs == list(range(1, len(node_rows) + 1))
        assert len(hub_rows) == sum(len(cluster.node_rows(i)) for i in range(NODES))
        for device in devices.list_devices(hub):
            assert device["rejected"] == 0 and device["gaps"] == []
    print(f"seed {seed}: {len(hub_rows)} submissions, kills {cluster.kills}, faults {dict(faults)}")


# --- node mode: run by the test as a separate process ---------------------------------


def run_node(
    db_path: str, hub_url: str, device_id: str, target: int, seed: int, acks: str, pace: float
) -> None:
    """Run a node's app and sync schedule, and make kiosk submissions until `target` exist."""
    from participate import logs, submissions
    from participate.app import create_app
    from participate.serve import start_scheduler

    logs.configure("WARNING")
    rng = random.Random(seed)
    with store.open_db(db_path, migrate=True) as db:
        consultations.save(db, consultations.read_files([EXAMPLE]))
    app = create_app(
        {
            "DATABASE": db_path,
            "ROLE": "node",
            "SECRET_KEY": "fault-test",
            "HUB_URL": hub_url,
            "DEVICE_ID": device_id,
            "DEVICE_SECRET": os.environ["PARTICIPATE_DEVICE_SECRET"],
            "SYNC_INTERVAL": 2,
            "SYNC_PROMPT_SECONDS": 0.5,
            "SYNC_TIMEOUT": 5,
            "SYNC_BACKOFF_CAP": 2,
            "SYNC_BATCH_SIZE": rng.choice([7, 50, 200, 500]),
        }
    )
    start_scheduler(app)
    db = store.open_db(db_path)
    consultation = consultations.get(db, "library-hours")
    with open(acks, "a", encoding="utf-8") as ack_log:
        made = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
        while made < target:
            answers = {
                "visits": rng.choice(["weekly", "monthly", "rarely"]),
                "times": rng.sample(["mornings", "evenings", "sundays"], rng.randint(1, 3)),
                "evenings": rng.random() < 0.5,
                "rating": rng.randint(1, 5),
            }
            if rng.random() < 0.3:
                answers["comments"] = rng.choice(["Très bien « merci »", "Open later, please"])
            stored = submissions.record(
                db,
                consultation,
                channel="kiosk",
                language=rng.choice(["en", "fr"]),
                answers=answers,
                started_at="2026-11-21T10:00:00.000000Z",
            )
            # Committed: now the kiosk may thank the person.
            ack_log.write(stored["id"] + "\n")
            ack_log.flush()
            made += 1
            time.sleep(rng.uniform(0, 2 * pace))
    while True:  # keep syncing until killed
        time.sleep(1)


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "node":
        _, _, db_arg, hub_arg, device_arg, target_arg, seed_arg, acks_arg, pace_arg = sys.argv
        run_node(
            db_arg, hub_arg, device_arg, int(target_arg), int(seed_arg), acks_arg, float(pace_arg)
        )
    else:
        sys.exit("usage: test_sync_fault.py node DB HUB_URL DEVICE_ID TARGET SEED ACKS PACE")
