"""Every compiled catalog matches its .po; every French catalog is complete and covers its code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import render_template_string
from flask_babel import force_locale, gettext

from participate import typography
from participate.app import create_app
from participate.errors import ConfigError
from participate.sms import segments
from tests.conftest import make_app_config

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


def _french_strings(po_path: Path) -> list[str]:
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    strings = []
    for message in catalog:
        if message.id:
            found = message.string
            strings += [found] if isinstance(found, str) else list(found)
    return strings


@pytest.mark.parametrize("po_path", FR_PO_FILES, ids=_name)
def test_every_french_string_follows_quebec_typography(po_path: Path) -> None:
    # OQLF (fr-CA): a no-break space before the colon and inside « », none before ! ? ;
    # (participate/typography.py decides; a fr-FR deployment adapts when loading).
    wrong = [t for t in _french_strings(po_path) if typography.french(t, "fr-CA") != t]
    assert wrong == [], f"run the strings through participate.typography.french: {wrong}"
    assert not [t for t in _french_strings(po_path) if re.search(r"[ \u202f][?!;]", t)]


def test_every_french_catalog_is_checked() -> None:
    assert {path.stem for path in FR_PO_FILES} >= {"participate", "kiosk", "sms", "hub"}


def test_french_sms_texts_stay_gsm7_once_made_plain() -> None:
    # No-break spaces are not GSM-7: sms/ sends every text through segments.plain.
    # (Letters such as ê are UCS-2 in any case: typography must add no other.)
    for text in _french_strings(TRANSLATIONS / "fr" / "LC_MESSAGES" / "sms.po"):
        flagged = set(segments.measure(segments.plain(text)).flagged)
        assert not flagged & set(" \u00a0\u202f«»:;!?"), (text, flagged)
        assert segments.measure(segments.plain(typography.french(text, "fr-FR"))).flagged == (
            segments.measure(segments.plain(text)).flagged
        )


@pytest.mark.parametrize(
    ("text", "quebec", "france"),
    [
        ("Merci !", "Merci!", "Merci\u202f!"),
        ("Vous êtes toujours là\u00a0?", "Vous êtes toujours là?", "Vous êtes toujours là\u202f?"),
        ("Rappel : %(t)s", "Rappel\u00a0: %(t)s", "Rappel\u00a0: %(t)s"),
        ("« %(e)s »", "«\u00a0%(e)s\u00a0»", "«\u00a0%(e)s\u00a0»"),
        ("à 10:30, https://x.ca?a=1 &amp; ok", "à 10:30, https://x.ca?a=1 &amp; ok", None),
        ("Oui ?!", "Oui?!", "Oui\u202f?!"),
    ],
)
def test_french_typography_conventions(text: str, quebec: str, france: str | None) -> None:
    assert typography.french(text, "fr-CA") == quebec
    assert typography.french(text, "fr-FR") == (france or quebec)


def test_a_france_deployment_gets_thin_spaces_and_quebec_keeps_none(db_path: Path) -> None:
    for convention, expected in [("fr-CA", "là?"), ("fr-FR", "là\u202f?")]:
        app = create_app(make_app_config(db_path, FRENCH_TYPOGRAPHY=convention))
        with app.test_request_context("/?lang=fr"), force_locale("fr"):
            assert gettext("Still there?").endswith(expected)
    with pytest.raises(ConfigError):
        create_app(make_app_config(db_path, FRENCH_TYPOGRAPHY="fr-BE"))


def test_french_kiosk_uses_the_typographic_apostrophe() -> None:
    straight = [
        t for t in _french_strings(TRANSLATIONS / "fr" / "LC_MESSAGES" / "kiosk.po") if "'" in t
    ]
    assert straight == [], "use the typographic apostrophe (’) in kiosk.po"


@pytest.mark.parametrize(
    "source",
    [
        '{{ _("Still there?") }}',
        '{{ _("Answers to: %(q)s", q="<b>Heures</b> & jours") }}',
        "{{ _('Search these answers') }}|{{ gettext('Responses') }}",
        '{{ ngettext("%(num)d submission", "%(num)d submissions", 1) }}',
        '{{ ngettext("%(num)d submission", "%(num)d submissions", n) }}',
        "{% trans %}Responses{% endtrans %}",
        "{% trans n=n %}{{ n }} submission{% pluralize %}{{ n }} submissions{% endtrans %}",
        '{{ _("A message no catalog has: 100%% <sure>") }}',
    ],
)
@pytest.mark.parametrize("convention", ["fr-CA", "fr-FR"])
@pytest.mark.parametrize("language", ["en", "fr"])
def test_templates_translate_as_flask_babel_does(
    db_path: Path, source: str, convention: str, language: str
) -> None:
    """A page's gettext, bound to its catalog once (typography.template_callables), gives
    what Flask-Babel's own callables give: same text, typography and escaping."""
    app = create_app(make_app_config(db_path, FRENCH_TYPOGRAPHY=convention))
    with app.test_request_context(f"/?lang={language}"), force_locale(language):
        page = render_template_string(source, n=3)
        assert render_template_string("{{ gettext.__module__ }}") == typography.__name__
        # Rendered without Flask's context processors, the template falls back to the
        # callables Flask-Babel installs in the environment.
        plain = app.jinja_env.from_string(source).render(n=3)
    assert page == plain
    assert "<b>" not in page
