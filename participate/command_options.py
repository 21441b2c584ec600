"""Pieces every `participate` command shares, importable by feature packages.

Kept apart from `participate.cli`, which imports the feature packages to collect their
commands: a feature importing `participate.cli` would make a cycle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from participate.errors import ParticipateError


def db_option(
    help_text: str = "Path of the SQLite store (created if missing).",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return the `--db PATH` option (also read from PARTICIPATE_DATABASE)."""
    return click.option(
        "--db",
        "db_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="PARTICIPATE_DATABASE",
        help=help_text,
    )


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the application's own errors into `Error: ...` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ParticipateError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper
