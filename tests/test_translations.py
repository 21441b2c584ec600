"""Every compiled catalog matches its .po; every French catalog is complete and covers its code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "participate" / "translations"
PO_FILES = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/*.po"))
FR_PO_FILES = [path for path in PO_FILES if path.parts[-3] == "fr"]


def _name(path: Path) -> str:
    return f"{path.parts[-3]}/{path.stem}"


def _translated(string: str | tuple | list) -> bool:
    return bool(string) if isinstance(string, str) else bool(string) and all(string)


def _translations(catalog: Catalog) -> dict:
    """Map each translated, non-fuzzy message id to its translation, as gettext would use it."""
    result = {}
    for message in catalog:
        if message.id and not message.fuzzy and _translated(message.string):
            key = message.id if isinstance(message.id, str) else tuple(message.id)
            value = message.string if isinstance(message.string, str) else tuple(message.string)
            result[(message.context, key)] = value
    return result


def test_there_are_catalogs() -> None:
    assert FR_PO_FILES, f"no French catalog under {TRANSLATIONS}"


@pytest.mark.parametrize("po_path", PO_FILES, ids=_name)
def test_compiled_catalog_is_up_to_date(po_path: Path) -> None:
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run pybabel compile -D {po_path.stem}"
    with po_path.open("rb") as handle:
        source = read_po(handle)
    with mo_path.open("rb") as handle:
        compiled = read_mo(handle)
    assert _translations(compiled) == _translations(source), (
        f"{mo_path.name} is stale: run "
        f"pybabel compile -D {po_path.stem} -d participate/translations -l {po_path.parts[-3]}"
    )


@pytest.mark.parametrize("po_path", FR_PO_FILES, ids=_name)
def test_french_catalog_is_complete(po_path: Path) -> None:
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    assert not catalog.fuzzy, f"{po_path} header is marked fuzzy: gettext would ignore the file"
    untranslated = [m.id for m in catalog if m.id and not _translated(m.string)]
    fuzzy = [message.id for message in catalog if message.id and message.fuzzy]
    assert not untranslated, f"untranslated in {po_path.name}: {untranslated}"
    assert not fuzzy, f"fuzzy in {po_path.name}: {fuzzy}"


@pytest.mark.parametrize("language", sorted({path.parts[-3] for path in PO_FILES}))
def test_domains_never_translate_one_message_two_ways(language: str) -> None:
    # Flask-Babel merges every domain into one catalog: the later domain wins a message
    # both define, so a "Keypad" the kiosk calls "Pavé numérique" would read "Clavier".
    seen: dict = {}
    clashes = []
    for po_path in (path for path in PO_FILES if path.parts[-3] == language):
        with po_path.open("rb") as handle:
            for key, value in _translations(read_po(handle)).items():
                first = seen.setdefault(key, (po_path.stem, value))
                if first[1] != value:
                    clashes.append(f"{key[1]!r}: {first[0]} {first[1]!r}, {po_path.stem} {value!r}")
    assert not clashes, "give each meaning its own message id:\n" + "\n".join(clashes)


@pytest.mark.parametrize("po_path", FR_PO_FILES, ids=_name)
def test_french_catalog_covers_its_package(po_path: Path) -> None:
    # A catalog is a feature's domain: the strings of its package and of its templates.
    domain = po_path.stem
    sources = [("python", path) for path in sorted((ROOT / domain).glob("*.py"))]
    sources += [("jinja2", path) for path in sorted((ROOT / "templates" / domain).glob("*.html"))]
    assert sources, f"no package or templates named {domain!r} for {po_path.name}"
    wanted = set()
    for method, path in sources:
        for _lineno, message, _comments, _context in extract_from_file(method, path):
            wanted.add(message if isinstance(message, str) else message[0])
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    have = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string}
    assert sorted(wanted - have) == [], f"not in {po_path.name}: run pybabel extract and update"


def test_french_kiosk_keeps_punctuation_with_its_word() -> None:
    # Quebec French (OQLF, fr-CA) puts a space before : but none before ? ! ; and a
    # screen must never wrap the colon onto a line of its own: a no-break space. (Not
    # for SMS: GSM-7 has no such character.)
    po_path = TRANSLATIONS / "fr" / "LC_MESSAGES" / "kiosk.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    strings = []
    for message in catalog:
        if message.id:
            found = message.string
            strings += [found] if isinstance(found, str) else list(found)
    loose = [text for text in strings if re.search(r"[ \S]:", text)]
    assert loose == [], f"use a no-break space (U+00A0) before : in {po_path.name}"
    spaced = [text for text in strings if re.search(r"\s[?!;]", text)]
    assert spaced == [], f"fr-CA puts no space before ? ! ; in {po_path.name}"
    straight = [text for text in strings if "'" in text]
    assert straight == [], f"use the typographic apostrophe (’) in {po_path.name}"
