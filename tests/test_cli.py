"""The `participate` command: help everywhere, loading, and readable refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from participate import store
from participate.cli import main
from tests.conftest import DEEPLY_NESTED, EXAMPLE


def test_main_help_lists_the_commands(runner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("load", "hub", "node", "demo"):
        assert command in result.output


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help(runner, command: str) -> None:
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_load_prints_what_it_loaded_and_is_idempotent(runner, tmp_path) -> None:
    db_path = tmp_path / "hub.db"
    result = runner.invoke(main, ["load", "--db", str(db_path), str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "library-hours: new, version" in result.output
    assert "6 questions, languages en, fr" in result.output
    again = runner.invoke(main, ["load", "--db", str(db_path), str(EXAMPLE)])
    assert "library-hours: unchanged" in again.output
    db = store.open_db(db_path)
    assert db.execute("SELECT count(*) FROM consultation_versions").fetchone()[0] == 1
    db.close()


def test_load_refuses_a_bad_file_and_loads_nothing(runner, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\ntitle: Bad\nquestions:\n  - {id: q, type: slider, text: Q}\n")
    db_path = tmp_path / "hub.db"
    result = runner.invoke(main, ["load", "--db", str(db_path), str(EXAMPLE), str(bad)])
    assert result.exit_code == 1
    assert "Error:" in result.output and "bad.yaml" in result.output
    assert "question 'q', field 'type'" in result.output
    db = store.open_db(db_path, migrate=True)
    assert db.execute("SELECT count(*) FROM consultations").fetchone()[0] == 0
    db.close()


def test_console_script_is_installed() -> None:
    # Beside the interpreter, not on PATH: the README runs `.venv/bin/python -m pytest`
    # without activating the venv.
    script = Path(sys.executable).with_name("participate")
    assert script.is_file(), "run `pip install -e .[test]` first"
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert "participate, version" in result.stdout


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "participate", "--help"], capture_output=True, text=True, check=True
    )
    assert "Usage:" in result.stdout


@pytest.mark.parametrize("name", sorted(DEEPLY_NESTED))
def test_load_refuses_a_deeply_nested_file_without_a_traceback(tmp_path, name: str) -> None:
    path = tmp_path / name
    path.write_text(DEEPLY_NESTED[name])
    script = Path(sys.executable).with_name("participate")
    result = subprocess.run(
        [script, "load", "--db", str(tmp_path / "hub.db"), str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert f"Error: {path}: nests lists or mappings more than 20 levels deep" in result.stderr
