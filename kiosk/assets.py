"""The kiosk's static files: addresses that name their content, cached a year, sent gzipped.

A kiosk page loads its style sheet, script and icon from `/assets/<digest>/<file>`,
where the digest is taken from the file's bytes: a browser keeps them without asking
again (`immutable`), and a new release changes the address, so nothing stale is ever
shown. Text files are gzipped once, when first asked for, and kept in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from participate.resources import resource_dir

# Only the kiosk's own folder is served this way; the rest of static/ has its own route.
FOLDER = "kiosk"
CACHE_CONTROL = "public, max-age=31536000, immutable"
COMPRESSIBLE = ("text/", "image/svg+xml", "application/javascript")
DIGEST_LENGTH = 12


@dataclass(frozen=True)
class Asset:
    """One file as it is sent: its bytes, gzipped bytes if worth it, type and digest."""

    body: bytes
    gzipped: bytes | None
    mimetype: str
    digest: str


def _path(filename: str) -> Path | None:
    """Return the file `filename` (e.g. `kiosk/kiosk.css`) names in static/, or None."""
    root = (resource_dir("static") / FOLDER).resolve()
    folder, _, name = filename.partition("/")
    if folder != FOLDER or not name:
        return None
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


@cache
def _read(path: Path, mtime_ns: int) -> Asset:
    body = path.read_bytes()
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if mimetype.startswith("text/") or mimetype == "application/javascript":
        mimetype += "; charset=utf-8"
    gzipped = None
    if mimetype.startswith(COMPRESSIBLE):
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    digest = hashlib.sha256(body).hexdigest()[:DIGEST_LENGTH]
    return Asset(body, gzipped, mimetype, digest)


def load(filename: str) -> Asset | None:
    """Return the kiosk file `filename` as it is sent, or None if there is no such file."""
    path = _path(filename)
    if path is None:
        return None
    # Keyed by modification time too, so an edited file (during development) is re-read.
    return _read(path, path.stat().st_mtime_ns)
