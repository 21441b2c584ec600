"""`participate add-token`: make an API token for another system, printed once."""

from __future__ import annotations

from pathlib import Path

import click

from participate import store
from participate.command_options import db_option, friendly_errors

from . import tokens


@click.command("add-token")
@db_option("Path of the hub's SQLite store.")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(tokens.ROLES),
    help="viewer reads what staff see by default; staff may also read hidden submissions.",
)
@friendly_errors
def add_token(db_path: Path, name: str, role: str) -> None:
    """Make an API token NAME for the read API and OData feeds; it is printed once."""
    if not db_path.exists():
        raise click.ClickException(f"no store at {db_path}")
    with store.open_db(db_path, migrate=True) as db:
        token, secret = tokens.create_token(db, name, role)
    click.echo(f"Created {token.role} token {token.name!r}. Keep it now: it is not shown again.")
    click.echo(secret)
