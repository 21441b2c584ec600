"""docs/cli.md is generated from the click commands (cog) and must not drift from them."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from cogapp import Cog

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = ".venv/bin/cog -r docs/cli.md"


def cog_check(path: Path) -> tuple[int, str]:
    """Run `cog --check` on a file; return its exit status and what it printed."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        status = Cog().main(
            ["cog", "--check", "--diff", f"--check-fail-msg=run {REGENERATE}", str(path)]
        )
    return status, output.getvalue()


def test_the_command_reference_matches_the_commands() -> None:
    status, output = cog_check(ROOT / "docs" / "cli.md")
    assert status == 0, output


def test_a_stale_reference_is_caught(tmp_path: Path) -> None:
    stale = tmp_path / "cli.md"
    shutil.copy(ROOT / "docs" / "cli.md", stale)
    text = stale.read_text()
    stale.write_text(text.replace("Show the version and exit.", "Show nothing."))
    status, output = cog_check(stale)
    assert status != 0
    assert "Show nothing." in output and REGENERATE in output


def test_every_command_is_in_the_reference() -> None:
    from participate.cli import main

    text = (ROOT / "docs" / "cli.md").read_text()
    for name in main.commands:
        assert f"### `participate {name}`" in text
