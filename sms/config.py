"""The SMS channel's settings, read once from the app's config into one object."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from flask import Flask, current_app

from . import phones
from .errors import SmsConfigError

GATEWAYS = ("twilio", "gammu", "android")
STATUS_PATH = "/sms/twilio/status"
MIN_REPLY_BUDGET = 20


@dataclass(frozen=True)
class SmsConfig:
    """The channel's settings, checked once when the app starts."""

    database: str
    pepper_setting: str
    account_sid: str
    auth_token: str
    from_number: str
    messaging_service_sid: str
    public_url: str
    session_hours: float
    default_region: str
    simulator: bool
    timezone: str
    languages: tuple[str, ...]
    rate_per_second: float
    quiet_hours: tuple[time, time] | None
    max_attempts: int
    retry_seconds: float
    reply_budget: int
    role: str = "hub"
    gateway: str = "twilio"  # what receives and sends: twilio, gammu or android
    gateway_per_minute: float = 6.0
    gammu_config: str = ""
    erase_numbers: bool = True
    android_url: str = ""
    android_username: str = ""
    android_password: str = ""
    android_webhook_secret: str = ""

    @functools.cached_property
    def pepper(self) -> bytes:
        """Return the phone pepper: configured, the hub's on a node, or the simulator's file."""
        return phones.resolve_pepper(
            self.pepper_setting, self.database, live=self.live, from_hub=self.role == "node"
        )

    @property
    def send_rate(self) -> float:
        """Return the most messages a second to send: a modem takes a few a minute."""
        if self.gateway == "twilio":
            return self.rate_per_second
        return self.gateway_per_minute / 60

    @property
    def live(self) -> bool:
        """Say whether real Twilio traffic is configured (an auth token to check signatures)."""
        return bool(self.auth_token)

    @property
    def can_send(self) -> bool:
        """Say whether outbound messages go to Twilio (else they go to the simulator)."""
        return bool(
            self.account_sid
            and self.auth_token
            and (self.from_number or self.messaging_service_sid)
        )

    @property
    def status_callback(self) -> str:
        """Return the delivery-status URL to give Twilio, or '' without a public URL."""
        return self.public_url + STATUS_PATH if self.public_url else ""


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """Parse '21:00-09:00' into (start, end); '' means no quiet hours."""
    text = (text or "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
    if not match:
        raise SmsConfigError(f"SMS_QUIET_HOURS must look like 21:00-09:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError:
        raise SmsConfigError(f"SMS_QUIET_HOURS has an impossible time: {text!r}") from None


def from_app_config(config: dict[str, Any] | Any) -> SmsConfig:
    """Build the channel's settings from a Flask config, checking what must be safe."""
    auth_token = str(config.get("TWILIO_AUTH_TOKEN") or "")
    public_url = str(config.get("PUBLIC_URL") or "").rstrip("/")
    try:
        rate = float(config["SMS_RATE_PER_SECOND"])
        hours = float(config["SMS_SESSION_HOURS"])
        attempts = int(config["SMS_MAX_ATTEMPTS"])
        retry = float(config["SMS_RETRY_SECONDS"])
        reply_budget = int(config["SMS_REPLY_BUDGET"])
        per_minute = float(config["SMS_GATEWAY_PER_MINUTE"])
    except (TypeError, ValueError) as exc:
        raise SmsConfigError(f"an SMS setting is not a number: {exc}") from None
    if reply_budget < MIN_REPLY_BUDGET:
        raise SmsConfigError(
            f"SMS_REPLY_BUDGET must be at least {MIN_REPLY_BUDGET}: fewer would cut off"
            " a person answering a consultation quickly"
        )
    gateway = str(config.get("SMS_GATEWAY") or "twilio").strip().lower()
    if gateway not in GATEWAYS:
        raise SmsConfigError(f"SMS_GATEWAY must be one of {', '.join(GATEWAYS)}, got {gateway!r}")
    if rate <= 0 or hours <= 0 or attempts < 1 or retry < 0 or per_minute <= 0:
        raise SmsConfigError(
            "SMS_RATE_PER_SECOND and SMS_SESSION_HOURS must be positive,"
            " SMS_MAX_ATTEMPTS at least 1, SMS_GATEWAY_PER_MINUTE positive"
        )
    sms_config = SmsConfig(
        database=str(config["DATABASE"]),
        pepper_setting=str(config.get("PHONE_PEPPER") or ""),
        account_sid=str(config.get("TWILIO_ACCOUNT_SID") or ""),
        auth_token=auth_token,
        from_number=str(config.get("TWILIO_FROM") or ""),
        messaging_service_sid=str(config.get("TWILIO_MESSAGING_SERVICE_SID") or ""),
        public_url=public_url,
        session_hours=hours,
        default_region=str(config.get("SMS_DEFAULT_REGION") or "US"),
        simulator=bool(config.get("SMS_SIMULATOR")) or not auth_token,
        timezone=str(config.get("TIMEZONE") or "UTC"),
        languages=tuple(config.get("LANGUAGES") or ("en",)),
        rate_per_second=rate,
        quiet_hours=parse_quiet_hours(str(config.get("SMS_QUIET_HOURS") or "")),
        max_attempts=attempts,
        retry_seconds=retry,
        role=str(config.get("ROLE") or "hub"),
        gateway=gateway,
        gateway_per_minute=per_minute,
        gammu_config=str(config.get("GAMMU_CONFIG") or ""),
        erase_numbers=bool(config.get("SMS_ERASE_NUMBERS")),
        android_url=str(config.get("ANDROID_URL") or "").rstrip("/"),
        android_username=str(config.get("ANDROID_USERNAME") or ""),
        android_password=str(config.get("ANDROID_PASSWORD") or ""),
        android_webhook_secret=str(config.get("ANDROID_WEBHOOK_SECRET") or ""),
        reply_budget=reply_budget,
    )
    if gateway == "gammu" and not sms_config.gammu_config:
        raise SmsConfigError("SMS_GATEWAY is gammu: set GAMMU_CONFIG to gammu-smsd's config file")
    if gateway == "android" and not (sms_config.android_url and sms_config.android_webhook_secret):
        raise SmsConfigError(
            "SMS_GATEWAY is android: set ANDROID_URL (the phone's local server) and"
            " ANDROID_WEBHOOK_SECRET (the signing key set in the app)"
        )
    if sms_config.live:
        # Refuse to take real numbers without the operator's own pepper (see phones).
        sms_config.pepper  # noqa: B018
    return sms_config


def get(app: Flask | None = None) -> SmsConfig:
    """Return the SMS settings of `app` (or of the current app)."""
    return (app or current_app).extensions["sms"]
