"""The SMS channel's interface texts: its own gettext domain, rendered in a chosen language.

A conversation's language is the language of the keyword that started it, not the
language of an HTTP request, so every text is rendered inside `in_language(lang)`.
"""

from __future__ import annotations

from participate.catalogs import Catalog

catalog = Catalog("sms")
_ = catalog.gettext
in_language = catalog.in_language
