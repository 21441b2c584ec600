"""A feature's texts rendered in a language chosen by the feature, not by the HTTP request.

An SMS conversation speaks the language of the keyword that started it, a phone call the
language chosen at its menu: each renders its texts inside `in_language(lang)`
(Flask-Babel's `force_locale` on the feature's own gettext domain). Outside a request
(the scheduler, `participate load`, `participate invite`) a bare app context is pushed
so the same catalogs apply.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from babel import Locale, UnknownLocaleError
from flask import Flask, has_app_context
from flask_babel import Domain, force_locale

from participate.resources import resource_dir


@functools.lru_cache(maxsize=64)
def _locale(lang: str) -> str:
    try:
        Locale.parse(lang)
    except (UnknownLocaleError, ValueError, TypeError):
        return "en"
    return lang


class Catalog:
    """One gettext domain (`sms`, `voice`), its texts rendered in a chosen language."""

    def __init__(self, domain: str) -> None:
        self.domain = Domain(
            translation_directories=[str(resource_dir("translations"))], domain=domain
        )
        self._bare_app = Flask(f"{domain}-texts")

    def gettext(self, msgid: str, **params: Any) -> str:
        """Translate `msgid` in the current language and fill in `params`."""
        return self.domain.gettext(msgid, **params)

    @contextlib.contextmanager
    def in_language(self, lang: str) -> Iterator[None]:
        """Render texts in `lang` inside the block, in or out of a Flask app context."""
        outer = contextlib.nullcontext() if has_app_context() else self._bare_app.app_context()
        with outer, force_locale(_locale(lang)):
            yield
