"""`participate demo`: a hub, a kiosk node syncing with it and the SMS simulator, in one process.

The node and the hub are separate apps on separate stores and ports, and the node
syncs with the hub over HTTP exactly as a real kiosk does, so what the demo shows is
what an installation does. Where Debian's gammu-smsd is installed, the node is also an
SMS gateway of its own: the real daemon runs on Gammu's dummy phone (a folder), and a
`gammu savesms` command printed at start "texts" the node. Its credentials are kept in
the data directory, so a second run resumes the first.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import subprocess
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
# The demo node takes kiosk visits and, on Gammu's dummy phone, texts.
DEMO_CHANNELS = ("kiosk", "sms")


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
            device_id, secret = devices.add_device(db, "Demo kiosk", channels=DEMO_CHANNELS)
            password = state.staff_password if state else secrets.token_urlsafe(12)
            state = DemoState(device_id, secret, STAFF_EMAIL, password)
            state_file.write_text(json.dumps(asdict(state), indent=2))
            os.chmod(state_file, 0o600)
        elif devices.get_channels(db, state.device_id) != DEMO_CHANNELS:
            # A demo made before the node was an SMS gateway: it takes texts too now.
            devices.set_channels(db, state.device_id, DEMO_CHANNELS)
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
    daemon = _start_gammu(data_dir / "gammu")
    node_config = {
        "DATABASE": str(data_dir / "node.db"),
        "ROLE": "node",
        "HUB_URL": hub_url,
        "DEVICE_ID": state.device_id,
        "DEVICE_SECRET": state.device_secret,
        # Short so a kiosk visit shows up at the hub within seconds.
        "SYNC_INTERVAL": 5,
    }
    if daemon is not None:
        node_config |= {
            "SMS_GATEWAY": "gammu",
            "GAMMU_CONFIG": str(daemon.args[2]),
            "SMS_GATEWAY_PER_MINUTE": 60,  # the dummy phone sends at once
            "SMS_QUIET_HOURS": "",
        }
    node_app = create_app(node_config)
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
    click.echo(
        f"  Write a consultation:  {hub_url}/staff/authoring/"
        "  (skip logic, SMS cost preview, XLSForm import)"
    )
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
    _describe_gateway(daemon)
    click.echo(f"Data in {data_dir.resolve()}. Press Ctrl+C to stop.")
    # Stopped by a service manager or `kill` (SIGTERM) as by Ctrl+C: the modem daemon is
    # stopped with it, never left running on its own.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        node_server.run()
    except KeyboardInterrupt:
        click.echo("Stopping.")
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
        node_server.close()
        hub_server.close()
        if daemon is not None:
            daemon.terminate()
            daemon.wait(10)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _first_sync(node_app) -> None:
    """Pull the hub's consultations once before the kiosk opens, so its screen is not empty."""
    from participate.sync import client_from_store, sync_once

    with store.open_db(node_app.config["DATABASE"]) as db:
        try:
            sync_once(db, client_from_store(db))
        except Exception as exc:  # the scheduled job retries; the demo still starts
            log.warning("demo.first_sync_failed", extra={"error": str(exc)})


def _start_gammu(root: Path) -> subprocess.Popen | None:
    """Start gammu-smsd on the dummy phone in `root`, or return None if it is not installed."""
    from participate.sms import write_dummy_config

    daemon = shutil.which("gammu-smsd")
    if daemon is None or shutil.which("gammu") is None:
        return None
    config = write_dummy_config(root)
    with open(root / "daemon-output.log", "ab") as output:  # the daemon keeps its own copy
        return subprocess.Popen(
            [daemon, "-c", str(config)], stdout=output, stderr=subprocess.STDOUT
        )


def _describe_gateway(daemon: subprocess.Popen | None) -> None:
    """Say how to text the node through its modem, or how to get one to try."""
    if daemon is None:
        click.echo("  SMS without internet:  install Debian's gammu and gammu-smsd")
        click.echo("      (sudo apt install gammu gammu-smsd) and run the demo again: the node")
        click.echo(
            "      then answers texts through a simulated GSM modem. See docs/sms-gateway.md."
        )
        return
    config = Path(daemon.args[2])
    command = [
        "gammu", "-c", str(config), "savesms", "TEXT", "-folder", "1", "-unread",
        "-sender", "+15555550100", "-textutf8", "HEURES",
    ]  # fmt: skip
    click.echo("  SMS without internet:  the node answers texts through gammu-smsd on a")
    click.echo("      simulated modem. Text it from another terminal:")
    click.echo(f"        {shlex.join(command)}")
    click.echo(f"      replies land in {config.parent / 'sent'} (Gammu's backup format);")
    click.echo("      answers reach the staff pages at the next sync.")
