"""The phone channel's spoken texts: its own gettext domain, said in the caller's language.

A call's language is the one the caller chose at the menu, not an HTTP request's, so
every text is rendered inside `in_language(lang)` (Flask-Babel's `force_locale` on this
package's domain), as the SMS channel does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flask import Flask, has_app_context
from flask_babel import Domain, force_locale

from participate.resources import resource_dir

domain = Domain(translation_directories=[str(resource_dir("translations"))], domain="voice")
_bare_app = Flask("voice-texts")


def _(msgid: str, **params: Any) -> str:
    """Translate `msgid` in the current language and fill in `params`."""
    return domain.gettext(msgid, **params)


@contextlib.contextmanager
def in_language(lang: str) -> Iterator[None]:
    """Render texts in `lang` inside the block, in or out of a Flask app context."""
    outer = contextlib.nullcontext() if has_app_context() else _bare_app.app_context()
    with outer, force_locale(lang):
        yield
