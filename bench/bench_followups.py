"""Benchmark "you said, we did": queue a results summary to N numbers, then erase them.

Builds a hub store with N kept numbers (default 5,000) and, in the same run, times the
baseline, queueing N invitations one by one through `outbound.enqueue` (what
`participate invite` does per number), against `sms.followups.publish` queueing the
summary to the N kept numbers in one transaction, and `erase_settled` deleting the N
sent texts and their numbers. Figures are numbers handled a second, appended to
docs/benchmarks.md. Target: publishing at least as fast as the baseline.

    python bench/bench_followups.py [--numbers 5000] [--no-append]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.harness import append_results, print_table  # noqa: E402
from participate import consultations, followups, store  # noqa: E402
from participate.app import create_app  # noqa: E402
from participate.sms import config as sms_config  # noqa: E402
from participate.sms import followups as sms_followups  # noqa: E402
from participate.sms import outbound  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
TEXTS = {"en": "You said: open later. We did: open till 9 pm.", "fr": "Vous avez dit : plus tard."}


def number(i: int, base: int) -> str:
    return f"+1514{base + i:07d}"  # Montreal mobiles, all valid for phonenumbers


def timed(name: str, count: int, action) -> dict:
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    return {"name": f"{name} ({count:,})", "requests_per_s": count / seconds, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=5000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    n = args.numbers
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hub.db"
        app = create_app(
            {"DATABASE": str(path), "ROLE": "hub", "SECRET_KEY": "bench", "PHONE_PEPPER": "p" * 32}
        )
        settings = sms_config.get(app)
        db = store.open_db(path, migrate=True)
        data = yaml.safe_load(EXAMPLE.read_text("utf-8")) | {"results_by_text": True}
        consultation = consultations.parse(data, EXAMPLE.name)
        consultations.save(db, [consultation])

        def invite_one_by_one() -> None:
            for i in range(n):
                outbound.enqueue(db, settings, number(i, 2_000_000), TEXTS["en"], kind="invitation")

        baseline = timed("enqueue invitations one by one", n, invite_one_by_one)
        with store.write(db):
            for i in range(n):
                followups.record(db, consultation.id, number(i, 5_000_000), ("en", "fr")[i % 2])
        publish = timed(
            "publish the summary",
            n,
            lambda: sms_followups.publish(db, settings, consultation, TEXTS, "bench"),
        )
        db.execute("UPDATE sms_outbound SET status = 'sent' WHERE kind = 'results'")
        db.conn.commit()
        erase = timed(
            "erase the settled texts and numbers", n, lambda: sms_followups.erase_settled(db)
        )
        left = db.execute(
            "SELECT count(*) FROM sms_contacts WHERE phone LIKE '+15145%'"
        ).fetchone()[0]
        assert left == 0, f"{left} numbers left after erasing"
        db.close()
    rows = [baseline, publish, erase]
    print_table(rows)
    ratio = publish["requests_per_s"] / baseline["requests_per_s"]
    print(f"publish: {ratio:.2f}x the baseline's numbers/s")
    if not args.no_append:
        append_results(
            ROOT / "docs" / "benchmarks.md",
            f"Results texts: publish and erase {n:,} numbers",
            rows,
            notes=(
                "Column 'req/s' is numbers handled a second (no HTTP). Baseline: one "
                f"transaction per queued invitation. Publish: {ratio:.2f}x the baseline."
            ),
        )


if __name__ == "__main__":
    main()
