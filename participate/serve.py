"""Run an app under waitress with its background jobs in one APScheduler per store."""

from __future__ import annotations

import gc
import logging

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from waitress.server import create_server

from participate.app import FEATURES

log = logging.getLogger(__name__)


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start a scheduler holding every feature's jobs for this app's store."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        # A sync or queue loop must never skip a run because the previous one ran late.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    for feature in FEATURES:
        schedule = getattr(feature, "schedule", None)
        if schedule is not None:
            schedule(scheduler, app)
    scheduler.start()
    return scheduler


# Requests that write wait on the group-commit writer (participate.group_commit), so more of
# them in flight make bigger groups: measured with 8 wrk connections, 8 threads instead
# of 4 took the kiosk submit from p99 49 to 22 ms and the SMS webhook from 116 to 26 ms.
THREADS = 8


def make_server(app: Flask, host: str, port: int, threads: int = THREADS):
    """Bind a waitress server for `app` (port 0 picks a free one); call `.run()` to serve."""
    return create_server(app, host=host, port=port, threads=threads, ident="participate")


def settle_memory() -> None:
    """Move what start-up allocated out of the garbage collector's reach.

    Everything made while starting (modules, templates, the app) lives as long as the
    process; frozen, it is no longer walked by each full collection, which otherwise
    paused every request thread for about 50 ms now and then (measured on the kiosk's
    final submit).
    """
    gc.collect()
    gc.freeze()


def serve(app: Flask, host: str, port: int, *, threads: int = THREADS) -> None:
    """Serve `app` with its jobs until interrupted."""
    scheduler = start_scheduler(app)
    server = make_server(app, host, port, threads)
    settle_memory()
    log.info("serve.listening", extra={"url": f"http://{host}:{port}/", "role": app.config["ROLE"]})
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown(wait=False)
        server.close()
