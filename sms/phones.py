"""Phone numbers: read them as E.164, pseudonymise them under a secret pepper, redact them.

`respondent` on a submission is HMAC-SHA256(E.164 number) keyed with PHONE_PEPPER: the
same number always gives the same pseudonym (so answers from one phone can be told
apart) but, without the pepper, nobody can walk the small space of phone numbers back
to one. The pepper is kept outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from pathlib import Path

import phonenumbers

from participate import fleet

from .errors import InvalidNumber, SmsConfigError

log = logging.getLogger(__name__)

_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
# Seven or more digits, with the spaces, dots, dashes and brackets people write between.
_NUMBER_IN_TEXT = re.compile(r"\+?\d[\d\s().-]{5,}\d")
REDACTED = "[number]"


def to_e164(raw: str, region: str = "US", *, strict: bool = False) -> str:
    """Return `raw` as an E.164 number; `strict` also requires a number in service."""
    text = (raw or "").strip()
    if not text or len(text) > 40:
        raise InvalidNumber(f"{text[:40]!r} is not a phone number")
    if not strict and _E164.fullmatch(text):
        return text  # already E.164, as Twilio sends it: no need to parse
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{text!r} is not a phone number: {exc}") from None
    valid = phonenumbers.is_valid_number if strict else phonenumbers.is_possible_number
    if not valid(number):
        raise InvalidNumber(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def in_service(e164: str) -> bool:
    """Say whether an E.164 number could be a real one (not 555-01xx or another fictional range)."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False


def redact(text: str) -> str:
    """Return `text` with anything that looks like a phone number replaced, for logs and errors."""
    return _NUMBER_IN_TEXT.sub(REDACTED, text)


def pseudonym(e164: str, pepper: bytes) -> str:
    """Return the keyed pseudonym of an E.164 number (hex HMAC-SHA256 under the pepper)."""
    return hmac.new(pepper, e164.encode("ascii"), hashlib.sha256).hexdigest()


def resolve_pepper(
    configured: str, database: str | Path, *, live: bool, from_hub: bool = False
) -> bytes:
    """Return the pepper to use: the configured one, the hub's (a node), or one made here."""
    # With Twilio credentials (`live`) PHONE_PEPPER is required: a generated pepper could
    # be lost with the data directory, silently changing every pseudonym, and real
    # numbers deserve a secret the operator chose and backs up. A node takes its hub's,
    # so that a phone has one pseudonym (and one opt-out) across the fleet.
    if configured:
        if len(configured) < fleet.MIN_PEPPER:
            raise SmsConfigError("PHONE_PEPPER must be at least 16 characters long")
        return configured.encode("utf-8")
    if from_hub:
        pepper = fleet.read_pepper(database)
        if pepper is None:
            raise SmsConfigError(
                "this node has no phone pepper yet: it receives the hub's at its first sync"
                " (texts wait in the gateway's inbox until then)"
            )
        return pepper
    if live:
        raise SmsConfigError(
            "PHONE_PEPPER is not set: set PARTICIPATE_PHONE_PEPPER to a long random secret"
            " before receiving real SMS (see docs/sms-setup.md)"
        )
    return fleet.generate_pepper(database)
