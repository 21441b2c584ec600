"""The SMS channel's interface texts: its own gettext domain, rendered in a chosen language.

A conversation's language is the language of the keyword that started it, not the
language of an HTTP request, so every text is rendered inside `in_language(lang)`
(Flask-Babel's `force_locale` on this package's domain). Outside a request (the
scheduler, `participate load`, `participate invite`) a bare app context is pushed so
the same catalogs apply.
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

domain = Domain(translation_directories=[str(resource_dir("translations"))], domain="sms")
_bare_app = Flask("sms-texts")


def _(msgid: str, **params: Any) -> str:
    """Translate `msgid` in the current language and fill in `params`."""
    return domain.gettext(msgid, **params)


@functools.lru_cache(maxsize=64)
def _locale(lang: str) -> str:
    try:
        Locale.parse(lang)
    except (UnknownLocaleError, ValueError, TypeError):
        return "en"
    return lang


@contextlib.contextmanager
def in_language(lang: str) -> Iterator[None]:
    """Render texts in `lang` inside the block, in or out of a Flask app context."""
    outer = contextlib.nullcontext() if has_app_context() else _bare_app.app_context()
    with outer, force_locale(_locale(lang)):
        yield
