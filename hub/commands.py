"""`participate add-user`, `export` and `import`: thin shells over hub.users, .export, .imports."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import sqlite_utils

from participate import store
from participate.command_options import db_option, friendly_errors
from participate.sync import devices

from . import days, export, imports, users
from .errors import FilterError, UnknownTimeZone
from .results import Filters


def _open(db_path: Path, *, must_exist: bool = True) -> sqlite_utils.Database:
    """Open a store (migrated), refusing a path with no store unless asked to create one."""
    if must_exist and not db_path.exists():
        raise click.ClickException(f"no store at {db_path}")
    return store.open_db(db_path, migrate=True)


@click.command("add-user")
@db_option("Path of the hub's SQLite store (created if missing).")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice(users.ROLES),
    help="viewer reads; staff also moderate and export; admin also manages users and devices.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (one line)."
)
@friendly_errors
def add_user(db_path: Path, email: str, role: str, password_stdin: bool) -> None:
    """Create a staff login EMAIL with a role (the password is prompted twice)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _open(db_path, must_exist=False) as db:
        user = users.create_user(db, email, password, role)
    click.echo(f"Created {user.role} account {user.email}.")


@click.command("export")
@db_option("Path of the SQLite store (a hub's or a node's).")
@click.option("--consultation", "consultation_id", required=True, help="Consultation id.")
@click.option(
    "--format", "fmt", required=True, type=click.Choice(export.FORMATS), help="Output format."
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write ('-' for standard output, except xlsx).",
)
@click.option("--include-hidden", is_flag=True, help="Include submissions hidden by moderation.")
@click.option(
    "--labels/--ids",
    default=False,
    show_default=True,
    help="CSV/XLSX: write choice labels instead of choice ids.",
)
@click.option("--language", default=None, help="Language of the labels (default: the first).")
@click.option("--channel", default="", help="Only this channel (kiosk or sms).")
@click.option("--device", default="", help="Only this device id.")
@click.option("--since", default="", help="Only submitted on or after this day (YYYY-MM-DD).")
@click.option("--until", default="", help="Only submitted on or before this day.")
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    envvar="PARTICIPATE_TIMEZONE",
    help="Time zone of the --since and --until days (an IANA name such as Europe/Paris).",
)
@click.option(
    "--codebook",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV: where to write the codebook (default: beside the output, *-codebook.csv).",
)
@friendly_errors
def export_command(
    db_path: Path,
    consultation_id: str,
    fmt: str,
    output: Path,
    include_hidden: bool,
    labels: bool,
    language: str | None,
    channel: str,
    device: str,
    since: str,
    until: str,
    timezone: str,
    codebook: Path | None,
) -> None:
    """Export a consultation's submissions from any store, streamed, with a progress bar."""
    to_stdout = str(output) == "-"
    if to_stdout and fmt == "xlsx":
        raise click.UsageError("xlsx needs a file: give -o FILE.xlsx")
    try:
        filters = Filters.from_args(
            {
                "channel": channel,
                "device": device,
                "since": since,
                "until": until,
                "hidden": "1" if include_hidden else "",
            },
            timezone,
        )
    except FilterError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        days.zone(timezone)
    except UnknownTimeZone as exc:
        raise click.BadParameter(str(exc), param_hint="--timezone") from exc
    options = export.ExportOptions(filters=filters, labels=labels, language=language)
    with _open(db_path) as db:
        plan = export.plan_export(db, consultation_id, options)
        written = _write(db, plan, fmt, output, to_stdout)
        if fmt == "csv" and (codebook or not to_stdout):
            target = codebook or output.with_name(f"{output.stem}-codebook.csv")
            target.write_text(export.codebook_csv(plan), encoding="utf-8")
            click.echo(f"Codebook written to {target}", err=True)
    if not to_stdout:
        click.echo(f"Exported {written} submissions to {output}", err=True)


def _write(
    db: sqlite_utils.Database, plan: export.ExportPlan, fmt: str, output: Path, to_stdout: bool
) -> int:
    """Write the export, with a progress bar on a terminal; return how many rows went out."""
    from tqdm import tqdm

    written = 0
    # The bar (and the count it needs) only for a person watching a terminal.
    show = sys.stderr.isatty()
    bar = tqdm(total=plan.count(db) if show else None, unit=" rows", disable=not show)

    def progress(rows: int) -> None:
        nonlocal written
        written += rows
        bar.update(rows)

    with bar:
        if to_stdout:
            export.write_export(fmt, db, plan, sys.stdout.buffer, progress)
            sys.stdout.buffer.flush()
            return written
        partial = output.with_name(output.name + ".part")
        with open(partial, "wb") as target:
            export.write_export(fmt, db, plan, target, progress)
        partial.replace(output)
    return written


@click.command("import")
@db_option("Path of the SQLite store to import into (created if missing).")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--receipts",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write bundles' receipts (default: beside each bundle).",
)
@friendly_errors
def import_command(db_path: Path, files: tuple[Path, ...], receipts: Path | None) -> None:
    """Store submissions from JSON/JSONL exports or nodes' bundles, idempotently by id.

    The same content already held counts as a duplicate; different content under a held
    id is refused with its reason and nothing is overwritten. A bundle's receipt is
    written beside it for `participate bundle --ack` on the node.
    """
    from tqdm import tqdm

    total = imports.ImportReport()
    with _open(db_path, must_exist=False) as db:
        for path in files:
            size = path.stat().st_size
            show = sys.stderr.isatty()
            with tqdm(
                total=size, unit="B", unit_scale=True, desc=path.name, disable=not show
            ) as bar:
                report = imports.import_file(db, path, receipt_dir=receipts, progress=bar.update)
            click.echo(
                f"{path}: stored {report.stored}, duplicate {report.duplicate},"
                f" refused {report.refused}"
            )
            total.add(report)
    for reason, count in total.reasons.most_common():
        click.echo(f"  refused {count}: {reason}")
    for device, gaps in total.gaps.items():
        missing = devices.format_gaps(gaps) or "none"
        click.echo(f"  device {device}: ledger numbers still missing: {missing}")
    for receipt in total.receipts:
        click.echo(
            f"  receipt written to {receipt}: take it to the node (participate bundle --ack)"
        )
    if len(files) > 1:
        click.echo(
            f"In all: stored {total.stored}, duplicate {total.duplicate}, refused {total.refused}"
        )
