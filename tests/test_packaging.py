"""The distribution: one top-level package, `participate`, that works outside the checkout.

The features live in top-level folders (`kiosk/`, `sms/`, ...) mapped by setup.cfg's
`package_dir`; these tests build a real, non-editable wheel from a copy of the sources
and check what an installation would get.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the build reads: the metadata and every folder that setup.cfg installs.
SOURCES = ("setup.cfg", "pyproject.toml", "README.md")


def _folders() -> tuple[str, ...]:
    """Return the folders the wheel is built from: the core and every package_dir mapping."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    mapped = config["options"]["package_dir"].strip().splitlines()
    return ("participate", *(line.split("=")[1].strip() for line in mapped))


FOLDERS = _folders()
FEATURES = (
    "participate.kiosk",
    "participate.sms",
    "participate.sync",
    "participate.hub",
    "participate.api",
)


pytestmark = pytest.mark.slow  # a real build: about 10 s


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel (no build isolation: offline, and a few seconds) from a copy."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    out = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--quiet", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("participate-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    [metadata] = [t for t in top if t.endswith(".dist-info")]
    assert top == {"participate", metadata}
    entry_points = zipfile.ZipFile(wheel).read(f"{metadata}/entry_points.txt").decode()
    assert "participate = participate.cli:main" in entry_points


def test_the_wheel_holds_the_features_templates_and_catalogs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for feature in FEATURES:
        assert feature.replace(".", "/") + "/__init__.py" in names
    assert "participate/sync/wire.py" in names
    assert "participate/templates/base.html" in names
    assert any(n.startswith("participate/static/") for n in names)
    assert "participate/examples/library-hours.yaml" in names
    assert any(n.endswith("/LC_MESSAGES/kiosk.mo") for n in names)


def test_the_unpacked_wheel_imports_as_participate_only(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()

    def run(code: str) -> subprocess.CompletedProcess[str]:
        # -I -S: neither the checkout nor the editable install's finder (a .pth file) is
        # seen; the dependencies come from this interpreter's site-packages, put after.
        path = [str(site), *(p for p in sys.path if p.endswith("site-packages"))]
        return subprocess.run(
            [sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = {path!r}; {code}"],
            cwd=empty,
            capture_output=True,
            text=True,
            timeout=120,
        )

    features = run(
        "import participate, participate.kiosk, participate.sms, participate.sync,"
        " participate.hub, participate.api; print(participate.__file__)"
    )
    assert features.returncode == 0, features.stderr
    assert features.stdout.strip().startswith(str(site))
    app = run(
        "from participate.app import create_app;"
        f" create_app({{'DATABASE': {str(tmp_path / 'x.db')!r}}}); print('ok')"
    )
    assert app.returncode == 0 and app.stdout.strip() == "ok", app.stderr
    for bare in ("kiosk", "sms", "sync", "hub", "api"):
        attempt = run(f"import {bare}")
        assert attempt.returncode != 0 and "ModuleNotFoundError" in attempt.stderr, bare
