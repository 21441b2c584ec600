"""The `participate` command: run a hub or a node, load consultations, and feature commands.

Each command is a thin shell: it parses flags, calls one function of `participate` or
a feature, and turns ParticipateError into a readable `Error:` line and exit code 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from participate import __version__, consultations, logs, speech, store, tallies
from participate.app import FEATURES, create_app
from participate.command_options import db_option, friendly_errors
from participate.serve import THREADS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="participate")
@click.option("--log-level", default="INFO", show_default=True, help="Logging level.")
def main(log_level: str) -> None:
    """Participate: public consultations by touch-screen kiosk and by SMS.

    Run `participate demo` to try everything on one machine.
    """
    logs.configure(log_level.upper())


@main.command()
@db_option()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@friendly_errors
def load(db_path: Path, files: tuple[Path, ...]) -> None:
    """Load or update consultations from YAML, JSON or XLSForm (.xlsx) FILES (all or nothing).

    A file whose content changed becomes a new version; earlier versions are kept, so
    answers given under them stay valid. A hub publishes what it loads to its nodes. A
    kiosk node's store also gets the read-aloud audio of each version.
    """
    parsed = consultations.read_files(files)
    with store.open_db(db_path, migrate=True) as db:
        results = consultations.save(db, parsed, source=", ".join(str(f) for f in files))
        is_node = store.get_meta(db, "device_id") is not None
    for result in results:
        c = result.consultation
        click.echo(
            f"{c.id}: {result.status}, version {c.version}, {len(c.questions)} questions,"
            f" languages {', '.join(c.languages)}"
        )
        for feature in FEATURES:
            report = getattr(feature, "load_report", None)
            for line in report(c) if report else ():
                click.echo(f"  {line}")
    if is_node:
        click.echo(_render_audio(db_path, [r.consultation for r in results]))


def _render_audio(db_path: Path, loaded: list[consultations.Consultation]) -> str:
    """Render the read-aloud audio of what was loaded; return the line that says so."""
    # Only a node's kiosk reads aloud: a hub's nodes render their own when they pull.
    if not speech.available():
        return "audio: espeak-ng or opusenc is not installed here; the kiosk will not read aloud"
    folder = speech.audio_dir(db_path)
    rendered = sum(speech.prepare(folder, c) for c in loaded)
    return f"audio: {rendered} new files in {folder}"


@main.command()
@db_option("Path of the SQLite store to check.")
@click.option("--rebuild", is_flag=True, help="Replace the kept tallies with the recount.")
@friendly_errors
def check(db_path: Path, rebuild: bool) -> None:
    """Recount the kept tallies from the submissions and report any difference.

    Exits with status 1 when a tally differs and --rebuild was not given. The staff
    pages count from these tallies; a store edited by hand may need --rebuild.
    """
    if not db_path.exists():
        raise click.ClickException(f"no store at {db_path}")
    with store.open_db(db_path, migrate=True) as db:
        if tallies.recount_if_asked(db):
            click.echo("A migration changed how tallies are kept: recounted them.")
        differences = tallies.differences(db)
        for key, kept, recounted in differences[:CHECK_SHOWN]:
            named = ", ".join(
                f"{name}={value!r}" for name, value in zip(tallies.KEY_COLUMNS, key, strict=True)
            )
            click.echo(f"  {named}: kept {kept}, recounted {recounted}")
        if len(differences) > CHECK_SHOWN:
            click.echo(f"  ... and {len(differences) - CHECK_SHOWN} more")
        if not differences:
            click.echo("Tallies match a recount of the submissions.")
            return
        if rebuild:
            rows = tallies.rebuild(db)
            click.echo(f"{len(differences)} tallies differed; rebuilt ({rows} rows).")
            return
    click.echo(f"{len(differences)} tallies differ from a recount; run with --rebuild to fix.")
    raise SystemExit(1)


CHECK_SHOWN = 20


def _serve_options(default_port: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--threads", default=THREADS, show_default=True, help="Waitress worker threads."
        )(func)
        func = click.option("--port", default=default_port, show_default=True)(func)
        func = click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            help="Interface to listen on (0.0.0.0 for all).",
        )(func)
        return db_option()(func)

    return decorate


@main.command()
@_serve_options(8000)
@friendly_errors
def hub(db_path: Path, host: str, port: int, threads: int) -> None:
    """Run the central hub: device API, staff pages and the SMS webhook, on waitress."""
    from participate.serve import exposure_warning, serve

    app = create_app({"DATABASE": str(db_path), "ROLE": "hub"})
    warning = exposure_warning(host, int(app.config["TRUSTED_PROXIES"]))
    if warning:
        click.echo(warning, err=True)
    click.echo(f"Hub serving on http://{host}:{port}/ (staff pages at /staff/)")
    serve(app, host, port, threads=threads)


@main.command()
@_serve_options(8080)
@click.option("--hub", "hub_url", required=True, envvar="PARTICIPATE_HUB_URL", help="Hub base URL.")
@click.option("--device-id", required=True, envvar="PARTICIPATE_DEVICE_ID")
@click.option(
    "--device-secret",
    required=True,
    envvar="PARTICIPATE_DEVICE_SECRET",
    help="From `participate add-device`; prefer the environment variable to keep it out of ps.",
)
@friendly_errors
def node(
    db_path: Path,
    host: str,
    port: int,
    threads: int,
    hub_url: str,
    device_id: str,
    device_secret: str,
) -> None:
    """Run a kiosk node on waitress, syncing with the hub on a schedule."""
    from participate.serve import serve

    app = create_app(
        {
            "DATABASE": str(db_path),
            "ROLE": "node",
            "HUB_URL": hub_url,
            "DEVICE_ID": device_id,
            "DEVICE_SECRET": device_secret,
        }
    )
    click.echo(f"Kiosk node {device_id} serving on http://{host}:{port}/, syncing to {hub_url}")
    serve(app, host, port, threads=threads)


@main.command()
@click.option("--port", default=8080, show_default=True, help="First port; the demo uses a few.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--data-dir",
    default="participate-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its stores.",
)
@friendly_errors
def demo(port: int, host: str, data_dir: Path) -> None:
    """Run a hub, a kiosk node syncing with it and the SMS simulator, with an example loaded."""
    from participate.demo import run

    run(data_dir, host, port)


for _feature in FEATURES:
    for _command in getattr(_feature, "commands", ()):
        main.add_command(_command)
