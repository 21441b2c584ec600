"""Find the folders shipped beside the code: templates, static files, translations, examples."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the shipped folder `name` (templates, static, ...), installed or in a checkout.

    An installed wheel holds them inside the `participate` package; a checkout (and an
    editable install) keeps them at the top of the repository, beside the feature folders.
    """
    installed = PACKAGE_DIR / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name
