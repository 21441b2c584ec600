"""The phone channel's spoken texts: its own gettext domain, said in the caller's language.

A call's language is the one the caller chose at the menu, not an HTTP request's, so
every text is rendered inside `in_language(lang)`.
"""

from __future__ import annotations

from participate.catalogs import Catalog

catalog = Catalog("voice")
_ = catalog.gettext
in_language = catalog.in_language
