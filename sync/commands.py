"""The sync commands: enrol a device at the hub, sync a node now, show the fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from participate import store
from participate.command_options import db_option, friendly_errors

from . import devices


@click.command("add-device")
@db_option()
@click.argument("name")
@click.option(
    "--channels",
    default=",".join(devices.DEFAULT_CHANNELS),
    show_default=True,
    help="Channels the node may send answers for, comma-separated: kiosk,sms for a node"
    " with an SMS gateway (change them later with `participate device-channels`).",
)
@friendly_errors
def add_device(db_path: Path, name: str, channels: str) -> None:
    """Enrol a kiosk node called NAME at the hub; print its device id and secret, once."""
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="NAME")
    try:
        allowed = devices.checked_channels(channels.split(","))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--channels") from None
    with store.open_db(db_path, migrate=True) as db:
        device_id, secret = devices.add_device(db, name, allowed)
    click.echo(f"Device:  {name.strip()}")
    click.echo(f"Id:      {device_id}")
    click.echo(f"Channels: {', '.join(allowed)}")
    click.echo(f"Secret:  {secret}")
    click.echo("The secret is shown only this once. Start the node with:")
    click.echo(
        f"  PARTICIPATE_DEVICE_SECRET='{secret}' participate node --db node.db"
        f" --hub https://HUB --device-id {device_id}"
    )


@click.command("device-channels")
@db_option()
@click.argument("device_id")
@click.argument("channels")
@friendly_errors
def device_channels(db_path: Path, device_id: str, channels: str) -> None:
    """Set the CHANNELS (comma-separated, e.g. kiosk,sms) the device DEVICE_ID may send.

    The hub refuses a submission whose channel the device is not enrolled for: enable a
    node's SMS gateway, then give it `kiosk,sms` here.
    """
    try:
        allowed = devices.checked_channels(channels.split(","))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="CHANNELS") from None
    with store.open_db(db_path, migrate=True) as db:
        devices.set_channels(db, device_id, allowed)
    click.echo(f"{device_id}: channels {', '.join(allowed)}")


@click.command("device-secret")
@db_option()
@click.argument("device_id")
@friendly_errors
def device_secret(db_path: Path, device_id: str) -> None:
    """Give the enrolled device DEVICE_ID a new secret (the old one stops working); print it once.

    For a secret that leaked, or a kiosk PC replaced: the device keeps its id, so its
    ledger and queued submissions carry on. Restart its node with the new secret.
    """
    with store.open_db(db_path, migrate=True) as db:
        secret = devices.replace_secret(db, device_id)
    click.echo(f"Id:      {device_id}")
    click.echo(f"Secret:  {secret}")
    click.echo("The secret is shown only this once; the old one no longer works.")


@click.command("sync")
@db_option()
@click.option("--once", is_flag=True, help="Push the queue now, then exit (the only mode).")
@click.option(
    "--retry-rejected", is_flag=True, help="Queue again submissions the hub rejected before."
)
@click.option("--batch-size", default=500, show_default=True, help="Submissions per request.")
@friendly_errors
def sync_command(db_path: Path, once: bool, retry_rejected: bool, batch_size: int) -> None:
    """Sync a node now: pull consultations, push its queue, report health; show what moved."""
    from . import node

    if not once:
        raise click.UsageError(
            "pass --once (a running `participate node` syncs on its own schedule)"
        )
    if not db_path.exists():
        raise click.ClickException(f"no store at {db_path}")
    with node.exclusive(db_path) as held:
        if not held:
            raise click.ClickException("another sync of this store is running; try again soon")
        report = _sync_now(db_path, retry_rejected, batch_size)
    push = report.push
    click.echo(
        f"Stored {push.stored}, already at the hub {push.duplicate}, rejected {push.rejected},"
        f" still queued {push.remaining}; {report.pulled} new consultation versions."
    )
    for reason in sorted(set(push.reasons)):
        click.echo(f"  rejected: {reason}")
    if report.gaps:
        click.echo(f"The hub lacks ledger numbers {devices.format_gaps(report.gaps)}; re-sent.")


def _sync_now(db_path: Path, retry_rejected: bool, batch_size: int) -> Any:
    """Pull, push and report once with a progress bar; return the run's SyncReport."""
    from . import node

    with store.open_db(db_path, migrate=True) as db, node.client_from_store(db) as client:
        if retry_rejected:
            click.echo(f"Queued again {node.retry_rejected(db)} rejected submissions.")
        total = node.queue_depth(db)
        click.echo(f"Syncing {total} queued submissions with {client.base_url} ...")
        with click.progressbar(length=total, label="Pushing", show_pos=True) as bar:
            report = node.sync_once(
                db,
                client,
                batch_size=batch_size,
                on_batch=lambda _report, count: bar.update(count),
            )
    return report


@click.command("bundle")
@db_option("Path of the node's SQLite store.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the node's unsynced submissions to this file (for a USB stick).",
)
@click.option(
    "--ack",
    "receipt",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Apply the hub's receipt: mark what the hub acknowledged as synced.",
)
@friendly_errors
def bundle_command(db_path: Path, output: Path | None, receipt: Path | None) -> None:
    """Write a node's unsynced submissions to one signed file, or apply the hub's receipt.

    Carry the file to the hub and run `participate import --db HUB.db FILE` there; bring
    back the receipt it writes and run `participate bundle --db NODE.db --ack RECEIPT`.
    Nothing is marked synced before that (or before a network push is acknowledged).
    """
    from . import bundles

    if (output is None) == (receipt is None):
        raise click.UsageError("give either -o FILE (write a bundle) or --ack RECEIPT")
    if not db_path.exists():
        raise click.ClickException(f"no store at {db_path}")
    with store.open_db(db_path, migrate=True) as db:
        if receipt is not None:
            done = bundles.apply_receipt(db, receipt.read_text(encoding="utf-8"))
            click.echo(
                f"Marked {done.acknowledged} submissions synced; {done.refused} refused by the"
                f" hub; {done.unknown} not in this store."
            )
            return
        assert output is not None
        text, count = bundles.write_bundle(db)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(output)
    click.echo(f"Wrote {count} unsynced submissions to {output}; none is marked synced yet.")


@click.command("devices")
@db_option()
@friendly_errors
def devices_command(db_path: Path) -> None:
    """List the hub's devices: last contact, queue, ledger gaps and what needs attention."""
    with store.open_db(db_path, migrate=True) as db:
        fleet = devices.list_devices(db)
    if not fleet:
        click.echo("No devices. Enrol one with `participate add-device`.")
    for device in fleet:
        gaps = devices.format_gaps(device["gaps"]) or "none"
        click.echo(
            f"{device['id']}  {device['name']} ({', '.join(device['channels'])}):"
            f" last contact {device['last_seen_at'] or 'never'},"
            f" queue {device['queue_depth'] if device['queue_depth'] is not None else '?'},"
            f" held {device['held_count']}, missing {gaps},"
            f" attention: {', '.join(device['attention']) or 'none'}"
        )
