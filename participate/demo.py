"""`participate demo`: a hub and everything around it, in one process, on this machine."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from participate import consultations, store
from participate.app import create_app, resource_dir
from participate.serve import make_server, start_scheduler

EXAMPLE = "library-hours.yaml"


def example_path() -> Path:
    """Return the bundled example consultation file."""
    return resource_dir("examples") / EXAMPLE


def run(data_dir: Path, host: str, port: int) -> None:
    """Start the demo's servers and jobs, print every URL, and serve until interrupted."""
    data_dir.mkdir(parents=True, exist_ok=True)
    hub_db = data_dir / "hub.db"
    with store.open_db(hub_db, migrate=True) as db:
        consultations.save(db, consultations.read_files([example_path()]), source=EXAMPLE)
    hub_app = create_app({"DATABASE": str(hub_db), "ROLE": "hub", "SMS_SIMULATOR": True})
    servers = [make_server(hub_app, host, port)]
    schedulers = [start_scheduler(hub_app)]
    base = f"http://{host}:{port}"
    click.echo("Participate demo is running. Open these in a browser:")
    click.echo(f"  Hub health:   {base}/healthz")
    click.echo(f"Data in {data_dir.resolve()}. Press Ctrl+C to stop.")
    threads = [threading.Thread(target=s.run, daemon=True) for s in servers[1:]]
    for thread in threads:
        thread.start()
    try:
        servers[0].run()
    except KeyboardInterrupt:
        click.echo("Stopping.")
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
        for server in servers:
            server.close()
