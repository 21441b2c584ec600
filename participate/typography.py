"""French typography of the interface: the one place that decides the spaces around
punctuation, for every catalog (participate, kiosk, sms, hub).

The catalogs are written in Quebec's convention (OQLF, fr-CA): a no-break space (U+00A0)
before the colon and inside « », none before ! ? ;. A deployment in France sets
FRENCH_TYPOGRAPHY = "fr-FR" and the French catalogs are adapted once when loaded: a
narrow no-break space (U+202F) before ! ? ; as well. tests/test_translations.py checks
every French msgstr against `french(text, CATALOG_CONVENTION)`. SMS texts go out with
these spaces made plain (sms/segments.py `plain`), as GSM-7 has none.
"""

from __future__ import annotations

import re
from typing import Any

from babel import support
from flask import current_app, g, has_app_context
from flask_babel import Domain, get_locale, get_translations
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

CONVENTIONS = ("fr-CA", "fr-FR")
CATALOG_CONVENTION = "fr-CA"
NBSP = "\u00a0"
NNBSP = "\u202f"
_SPACES = f" {NBSP}{NNBSP}"
# A mark ends a phrase when a space, the end, or a closing mark follows it (not "10:30",
# "https://" or "&amp;").
_AFTER = r"(?=$|[\s»\"'’)\];!?])"
_ENTITY = re.compile(r"&#?\w+$")  # "&amp;" is markup, not a semicolon
_COLON = re.compile(rf"(?<=[^\s{NBSP}{NNBSP}])[{_SPACES}]*:{_AFTER}")
_HIGH = re.compile(rf"(?<=[^\s{NBSP}{NNBSP};!?])[{_SPACES}]*([;!?]){_AFTER}")
_OPEN = re.compile(rf"«[{_SPACES}]*")
_CLOSE = re.compile(rf"[{_SPACES}]*»")


def french(text: str, convention: str = CATALOG_CONVENTION) -> str:
    """Return French `text` with the spaces `convention` puts around : ; ! ? « »."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown French typography {convention!r}: one of {CONVENTIONS}")
    text = _COLON.sub(NBSP + ":", text)
    text = _OPEN.sub("«" + NBSP, text)
    text = _CLOSE.sub(NBSP + "»", text)
    before = NNBSP if convention == "fr-FR" else ""

    def space(match: re.Match[str]) -> str:
        if _ENTITY.search(match.string, 0, match.start()):
            return match.group(0)
        return before + match.group(1)

    return _HIGH.sub(space, text)


def _adapted(translations: support.Translations, convention: str) -> support.Translations:
    copy = support.Translations()
    copy.merge(translations)
    copy.plural = getattr(translations, "plural", copy.plural)
    for key, value in copy._catalog.items():  # gettext keeps its messages there
        if key and isinstance(value, str):
            copy._catalog[key] = french(value, convention)
    return copy


class TypographicDomain(Domain):
    """Flask-Babel's domain, giving French catalogs the deployment's typography."""

    def __init__(self, domain: str) -> None:
        super().__init__(domain=domain)
        self._adapted: dict[tuple[str, str], support.Translations] = {}

    def get_translations(self):  # type: ignore[no-untyped-def]
        # A page asks for its catalog once a message (hundreds of times): remember it for
        # the request, for as long as its locale is the same object (force_locale sets
        # another), past Flask-Babel's own lookups through the context's proxies.
        context = g.get("_flask_babel") if has_app_context() else None
        locale = getattr(context, "babel_locale", None)
        remembered = getattr(context, "typography", None)
        if remembered is not None and remembered[0] is locale and remembered[1] is self:
            return remembered[2]
        translations = self._for_locale()
        context = g.get("_flask_babel") if has_app_context() else None
        if context is not None:
            context.typography = (getattr(context, "babel_locale", None), self, translations)
        return translations

    def _for_locale(self):  # type: ignore[no-untyped-def]
        translations = super().get_translations()
        if not has_app_context():
            return translations
        convention = current_app.config.get("FRENCH_TYPOGRAPHY", CATALOG_CONVENTION)
        locale = get_locale()
        if convention == CATALOG_CONVENTION or locale is None or locale.language != "fr":
            return translations
        key = (str(locale), convention)
        if key not in self._adapted:
            self._adapted[key] = _adapted(translations, convention)
        return self._adapted[key]


def template_callables() -> dict[str, Any]:
    """Give the template being rendered `gettext` and `ngettext` (and so `_`) bound to the
    catalog of this request, looked up once a page.

    Flask-Babel's own callables, which templates fall back to, look the catalog up
    through the request's proxies for every message: 6 µs each, and the results page
    has 240 messages. These behave as Jinja's newstyle ones: the message is escaped as
    markup when the template is, then filled in with its (escaped) variables.
    """
    translations = get_translations()
    lookup, plural_lookup = translations.ugettext, translations.ungettext

    @pass_eval_context
    def gettext(eval_context: EvalContext, message: str, /, **variables: Any) -> str:
        text = lookup(message)
        # The catalogs are the app's own markup, as in Jinja; the variables get escaped.
        return (Markup(text) if eval_context.autoescape else text) % variables  # noqa: S704

    @pass_eval_context
    def ngettext(
        eval_context: EvalContext, singular: str, plural: str, num: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        text = plural_lookup(singular, plural, num)
        return (Markup(text) if eval_context.autoescape else text) % variables  # noqa: S704

    return {"gettext": gettext, "ngettext": ngettext}
