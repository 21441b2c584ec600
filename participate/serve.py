"""Run an app under waitress with its background jobs in one APScheduler per store."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from waitress.server import create_server

from participate.app import features

log = logging.getLogger(__name__)


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start a scheduler holding every feature's jobs for this app's store."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        # A sync or queue loop must never skip a run because the previous one ran late.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    for feature in features():
        schedule = getattr(feature, "schedule", None)
        if schedule is not None:
            schedule(scheduler, app)
    scheduler.start()
    return scheduler


def make_server(app: Flask, host: str, port: int, threads: int = 4):  # noqa: ANN201
    """Bind a waitress server for `app` (port 0 picks a free one); call `.run()` to serve."""
    return create_server(app, host=host, port=port, threads=threads, ident="participate")


def serve(app: Flask, host: str, port: int, *, threads: int = 4) -> None:
    """Serve `app` with its jobs until interrupted."""
    scheduler = start_scheduler(app)
    server = make_server(app, host, port, threads)
    log.info("serve.listening", extra={"url": f"http://{host}:{port}/", "role": app.config["ROLE"]})
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown(wait=False)
        server.close()
