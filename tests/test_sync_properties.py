"""Property: whatever the network and the hub lose, a clean sync leaves the hub equal to the node.

Hypothesis draws a history of kiosk submissions, pushes of any batch size over a network
that loses requests or answers, hubs restored from an older backup, and full syncs. After
one more sync on a working network, the hub must hold exactly the node's submissions,
byte-identical, once each, with no gap in the ledger.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from participate import consultations, store, submissions
from participate.app import create_app
from participate.sync import devices, node, receive
from participate.sync.client import HubAnswer
from participate.sync.errors import SyncError, TransportError
from tests.conftest import EXAMPLE, make_app_config

SELECT = f"SELECT {', '.join(receive.PUSH_FIELDS)} FROM submissions ORDER BY id"  # noqa: S608


class UnreliableNetwork:
    """Deliver requests to the hub's test client, failing as the drawn fates say."""

    def __init__(self, client, fates: list[str]) -> None:
        self.client = client
        self.fates = list(fates)

    def __call__(self, method, url, headers, body, timeout) -> HubAnswer:
        fate = self.fates.pop(0) if self.fates else "ok"
        if fate == "lost request":
            raise TransportError("connection refused")
        parts = urlsplit(url)
        reply = self.client.open(parts.path, method=method, headers=dict(headers), data=body)
        if fate == "lost answer":
            raise TransportError("connection reset after the request")
        return HubAnswer(
            reply.status_code, reply.get_data(), {k.lower(): v for k, v in reply.headers.items()}
        )


fates = st.lists(st.sampled_from(["ok", "ok", "lost request", "lost answer"]), max_size=6)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.integers(1, 25)),
        st.tuples(st.just("push"), st.integers(1, 40), fates),
        st.tuples(st.just("sync"), st.integers(1, 40), fates),
        st.tuples(st.just("hub restored"), st.integers(2, 5)),
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.slow  # 25 generated histories, each synced over HTTP: about 15 s
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=steps)
def test_a_clean_sync_always_leaves_the_hub_equal_to_the_node(tmp_path_factory, history):
    workdir: Path = tmp_path_factory.mktemp("history")
    example = consultations.read_file(EXAMPLE)
    hub_path, node_path = workdir / "hub.db", workdir / "node.db"
    with store.open_db(hub_path, migrate=True) as hub_db:
        consultations.save(hub_db, [example])
        device_id, secret = devices.add_device(hub_db, "Kiosk")
    hub_app = create_app(make_app_config(hub_path))
    client = hub_app.test_client()
    node_db = store.open_db(node_path, migrate=True)
    hub_db = store.open_db(hub_path)
    try:
        consultations.save(node_db, [example])
        node.save_enrolment(node_db, "http://hub.test", device_id, secret)
        made = 0
        for step in history:
            if step[0] == "record":
                for _ in range(step[1]):
                    made += 1
                    submissions.record(
                        node_db,
                        example,
                        channel="kiosk",
                        language="en",
                        answers={"visits": "weekly", "times": ["evenings"], "evenings": True}
                        | {"rating": 1 + made % 5},
                        started_at="2026-11-21T10:00:00.000000Z",
                    )
            elif step[0] in ("push", "sync"):
                hub_client = node.client_from_store(
                    node_db, transport=UnreliableNetwork(client, step[2])
                )
                try:
                    if step[0] == "push":
                        node.push(node_db, hub_client, batch_size=step[1])
                    else:
                        node.sync_once(node_db, hub_client, batch_size=step[1])
                except SyncError:
                    pass
            else:  # the hub is restored from a backup that lacks some of what it held
                hub_db.execute("DELETE FROM submissions WHERE seq % ? = 0", [step[1]])

        final = node.client_from_store(node_db, transport=UnreliableNetwork(client, []))
        node.sync_once(node_db, final)

        assert node.queue_depth(node_db) == 0
        assert hub_db.execute(SELECT).fetchall() == node_db.execute(SELECT).fetchall()
        assert hub_db.execute("SELECT count(*) FROM submissions").fetchone()[0] == made
        assert devices.ledger_gaps(hub_db, device_id, made) == []
    finally:
        node_db.close()
        hub_db.close()
