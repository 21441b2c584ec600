"""Run an app under waitress with its background jobs in one APScheduler per store."""

from __future__ import annotations

import gc
import ipaddress
import logging
import resource

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


# Descriptors the process needs besides its connections: the SQLite files, logs, the
# scheduler's and the sync client's sockets, with room to spare.
SPARE_FILES = 256


def make_server(app: Flask, host: str, port: int, threads: int = THREADS):
    """Bind a waitress server for `app` (port 0 picks a free one); call `.run()` to serve.

    Waitress's defaults let about 100 idle connections freeze a server for two minutes:
    at `connection_limit` it stops accepting, and an idle or half-sent request holds its
    connection for `channel_timeout`. Here both come from the settings
    (SERVER_CONNECTION_LIMIT, SERVER_CHANNEL_TIMEOUT; docs/configuration.md), connections
    are watched with poll() (select() cannot watch a descriptor above 1023), and the
    idle sweep runs often enough for the timeout to hold within a second or two.
    """
    limit = int(app.config["SERVER_CONNECTION_LIMIT"])
    timeout = int(app.config["SERVER_CHANNEL_TIMEOUT"])
    allow_open_files(limit + SPARE_FILES)
    return create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="participate",
        connection_limit=limit,
        channel_timeout=timeout,
        cleanup_interval=max(1, min(30, timeout // 4)),
        asyncore_use_poll=True,
    )


def allow_open_files(wanted: int) -> int:
    """Raise this process's soft limit on open files towards `wanted`; return the limit.

    The soft limit (`ulimit -n`) is often 1024, below what a full connection limit
    needs; a process may raise it up to the hard limit without privilege. When even the
    hard limit is lower, say so: connections past it would be refused with EMFILE.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if ceiling > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            soft = ceiling
        if soft < wanted:
            log.warning(
                "serve.open_files_limit",
                extra={"limit": soft, "wanted": wanted, "fix": "raise LimitNOFILE or ulimit -n"},
            )
    return soft


def exposure_warning(host: str, trusted_proxies: int) -> str | None:
    """Return a warning when a hub listens beyond this machine with no proxy in front.

    Served straight to the internet, waitress alone has no per-client limits; the
    documented shape (docs/deploy.md) is a reverse proxy with TRUSTED_PROXIES set.
    """
    if trusted_proxies or _is_loopback(host):
        return None
    return (
        f"Warning: listening on {host} with no reverse proxy declared (TRUSTED_PROXIES=0)."
        " Anyone who can reach this port talks to waitress directly, with no per-client"
        " connection or rate limits; put nginx in front as docs/deploy.md shows and set"
        " PARTICIPATE_TRUSTED_PROXIES=1, or listen on 127.0.0.1."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


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
