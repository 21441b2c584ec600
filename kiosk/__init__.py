"""The kiosk: touch-screen pages served by a node, one question a screen, reset when idle.

`init_app(app)` registers the pages at `/` on a node; `schedule(scheduler, app)` adds the
job that sweeps away visits left idle (the page's own timer normally ends them first)
and the job that renders the read-aloud audio of what the node has to show. `question_screen`
draws a question as the kiosk does, for the staff's preview on a hub.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

from participate import clock, consultations, speech, store
from participate.extensions import csrf

from .preview import PREVIEW_CSP, question_screen

__all__ = [
    "PREVIEW_CSP",
    "init_app",
    "question_screen",
    "render_audio",
    "schedule",
    "sweep_idle_visits",
]

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60
RENDER_SECONDS = 60


def init_app(app: Flask) -> None:
    """Register the kiosk's pages on a node app (a hub has no kiosk)."""
    if app.config["ROLE"] != "node":
        return
    from . import listen
    from .views import bp

    # The kiosk's forms are protected by the visit's own random token, held server-side
    # and checked on every post; Flask-WTF's expiring token would turn a screen left idle
    # into an error page instead of a fresh start.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(listen.bp)
    app.add_template_global(listen.read_aloud)


def sweep_idle_visits(app: Flask) -> int:
    """Delete the visits of this app's store left untouched too long; return how many."""
    from . import visits
    from .views import max_idle_seconds

    with app.app_context(), store.open_db(app.config["DATABASE"]) as db:
        removed = visits.sweep(db, max_idle_seconds=max_idle_seconds())
    if removed:
        log.info("kiosk.visits_swept", extra={"count": removed})
    return removed


def render_audio(app: Flask) -> int:
    """Render the read-aloud audio missing for the consultations open now; count new files.

    A version pulled from the hub is read aloud within a minute; one loaded with
    `participate load` already was. Cheap when nothing is missing (a stat per file).
    """
    folder = speech.audio_dir(app.config["DATABASE"])
    with store.open_db(app.config["DATABASE"]) as db:
        showing = consultations.open_now(db, clock.local_now(app.config["TIMEZONE"]))
    return sum(speech.prepare(folder, consultation) for consultation in showing)


def schedule(scheduler: BaseScheduler, app: Flask) -> None:
    """Add the idle-visit sweep and the audio render to a node's scheduler."""
    if app.config["ROLE"] != "node":
        return
    if speech.available():
        scheduler.add_job(
            render_audio,
            "interval",
            seconds=RENDER_SECONDS,
            args=[app],
            id="kiosk.render_audio",
            replace_existing=True,
            next_run_time=datetime.now(UTC),
        )
    scheduler.add_job(
        sweep_idle_visits,
        "interval",
        seconds=SWEEP_SECONDS,
        args=[app],
        id="kiosk.sweep_idle_visits",
        replace_existing=True,
        # Also at once: a node back from a power cut forgets the visits it was showing.
        next_run_time=datetime.now(UTC),
    )
