"""`participate demo`: a hub, a kiosk node syncing with it and the SMS simulator, in one process.

The node and the hub are separate apps on separate stores and ports, and the node
syncs with the hub over HTTP exactly as a real kiosk does, so what the demo shows is
what an installation does. Its credentials are kept in the data directory, so a second
run resumes the first.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from participate import consultations, speech, store
from participate.app import create_app
from participate.resources import resource_dir
from participate.serve import make_server, settle_memory, start_scheduler
from participate.sync import devices

log = logging.getLogger(__name__)

EXAMPLE = "library-hours.yaml"
STAFF_EMAIL = "demo@example.org"


@dataclass
class DemoState:
    device_id: str
    device_secret: str
    staff_email: str
    staff_password: str


def example_path() -> Path:
    """Return the bundled example consultation file."""
    return resource_dir("examples") / EXAMPLE


def prepare(data_dir: Path) -> DemoState:
    """Create or reuse the demo's hub store, its consultation, device and staff login."""
    from participate.hub import create_user, find_user

    data_dir.mkdir(parents=True, exist_ok=True)
    state_file = data_dir / "demo.json"
    with store.open_db(data_dir / "hub.db", migrate=True) as db:
        consultations.save(db, consultations.read_files([example_path()]), source=EXAMPLE)
        state = _read_state(state_file)
        if state is None or devices.get_device(db, state.device_id) is None:
            device_id, secret = devices.add_device(db, "Demo kiosk")
            password = state.staff_password if state else secrets.token_urlsafe(12)
            state = DemoState(device_id, secret, STAFF_EMAIL, password)
            state_file.write_text(json.dumps(asdict(state), indent=2))
            os.chmod(state_file, 0o600)
        if find_user(db, state.staff_email) is None:
            create_user(db, state.staff_email, state.staff_password, "admin")
    return state


def _read_state(path: Path) -> DemoState | None:
    try:
        return DemoState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def run(data_dir: Path, host: str, port: int) -> None:
    """Start the demo's servers and jobs, print every URL, and serve until interrupted."""
    state = prepare(data_dir)
    hub_port = port + 1
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (only compared)
    hub_url = f"http://{shown}:{hub_port}"
    kiosk_url = f"http://{shown}:{port}"
    hub_app = create_app(
        {"DATABASE": str(data_dir / "hub.db"), "ROLE": "hub", "SMS_SIMULATOR": True}
    )
    node_app = create_app(
        {
            "DATABASE": str(data_dir / "node.db"),
            "ROLE": "node",
            "HUB_URL": hub_url,
            "DEVICE_ID": state.device_id,
            "DEVICE_SECRET": state.device_secret,
            # Short so a kiosk visit shows up at the hub within seconds.
            "SYNC_INTERVAL": 5,
        }
    )
    hub_server = make_server(hub_app, host, hub_port)
    node_server = make_server(node_app, host, port)
    hub_thread = threading.Thread(target=hub_server.run, name="demo-hub", daemon=True)
    hub_thread.start()
    _first_sync(node_app)
    schedulers = [start_scheduler(hub_app), start_scheduler(node_app)]
    settle_memory()

    click.echo("Participate demo is running. Open these in a browser:")
    click.echo(f"  Kiosk (touch screen):  {kiosk_url}/")
    click.echo(f"  Staff pages:           {hub_url}/staff/")
    click.echo(f"      sign in as {state.staff_email} with password {state.staff_password}")
    click.echo(f"  SMS simulator:         {hub_url}/sms/simulator  (text HOURS, or HEURES)")
    click.echo(f"  Phone call simulator:  {hub_url}/sms/simulator#call  (a keypad, same page)")
    if speech.available():
        click.echo("  Read aloud:            on (the kiosk's Listen button; espeak-ng)")
    else:
        click.echo(
            "  Read aloud:            off (apt-get install espeak-ng opus-tools, then restart)"
        )
    click.echo(f"  Read API (OpenAPI):    {hub_url}/api/open/v1/openapi.json")
    click.echo(f"  API tokens, webhooks:  {hub_url}/staff/connections  (docs/api.md)")
    click.echo(f"  Hub health:            {hub_url}/healthz")
    click.echo(f"  Kiosk node health:     {kiosk_url}/healthz")
    click.echo(f"Data in {data_dir.resolve()}. Press Ctrl+C to stop.")
    try:
        node_server.run()
    except KeyboardInterrupt:
        click.echo("Stopping.")
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
        node_server.close()
        hub_server.close()


def _first_sync(node_app) -> None:
    """Pull the hub's consultations once before the kiosk opens, so its screen is not empty."""
    from participate.sync import client_from_store, sync_once

    with store.open_db(node_app.config["DATABASE"]) as db:
        try:
            sync_once(db, client_from_store(db))
        except Exception as exc:  # the scheduled job retries; the demo still starts
            log.warning("demo.first_sync_failed", extra={"error": str(exc)})
