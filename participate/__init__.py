"""Participate: hear from people who don't use computers, by kiosk and by SMS.

The package holds what every feature shares: the app factory (`participate.app`),
settings, the store, the consultation model with answer validation, and the CLI.
It imports no feature package at import time, so features can import it freely.
"""

__version__ = "0.1.0"
