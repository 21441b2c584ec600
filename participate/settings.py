"""Declare every setting once, with its default and a line of help.

A setting named `X` is read from Flask config key `X`, which `create_app` fills from
these defaults, then from `PARTICIPATE_X` environment variables, then from the mapping
given to the factory (command-line flags and tests). `docs/configuration.md` documents
each one; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import flask


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    # Core
    Setting("DATABASE", "participate.db", "Path of this process's SQLite store."),
    Setting("ROLE", "hub", "`hub` (central store, staff pages, device API) or `node` (kiosk)."),
    Setting(
        "SECRET_KEY",
        None,
        "Signs session cookies. Unset: a random key is made once and kept in the store.",
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        2 * 1024 * 1024,
        "Largest request body accepted, in bytes; larger bodies get 413.",
    ),
    Setting(
        "LANGUAGES",
        ["en", "fr"],
        "Interface languages offered, first is the default"
        " (unset: the kiosk opens in the first open consultation's first language).",
    ),
    Setting(
        "FRENCH_TYPOGRAPHY",
        "fr-CA",
        "French spacing: fr-CA (Quebec, OQLF: none before ! ? ;) or fr-FR (France's thin spaces).",
    ),
    Setting("LOG_LEVEL", "INFO", "Logging level for the structured (JSON lines) log."),
    Setting("TIMEZONE", "UTC", "Local time zone of the organisation (quiet hours, dates shown)."),
    Setting(
        "TRUSTED_PROXIES",
        0,
        "Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).",
    ),
    Setting(
        "SESSION_COOKIE_SECURE",
        False,
        "Send the staff sign-in cookie over HTTPS only (always on when PUBLIC_URL is https).",
    ),
    # Privacy (docs/privacy.md)
    Setting(
        "PHONE_RETENTION_DAYS",
        30,
        "Longest a phone number and its conversation state are kept, in days from first contact.",
    ),
    Setting(
        "RETENTION_DAYS",
        365,
        "Days after a consultation closes before its submissions lose their pseudonyms"
        " (a consultation's `retention_days` overrides it).",
    ),
    Setting(
        "SERVER_CONNECTION_LIMIT",
        1000,
        "Most connections waitress holds open at once; past it, new ones wait to be accepted.",
    ),
    Setting(
        "SERVER_CHANNEL_TIMEOUT",
        15,
        "Seconds an idle or half-sent connection is kept before the server closes it.",
    ),
    # Kiosk
    Setting(
        "KIOSK_IDLE_SECONDS",
        90,
        "Seconds without a touch before the kiosk warns, then clears the visit.",
    ),
    Setting(
        "KIOSK_WARNING_SECONDS",
        30,
        'Seconds the kiosk\'s "Still there?" warning counts down before it clears the visit.',
    ),
    Setting(
        "KIOSK_THANKS_SECONDS",
        10,
        "Seconds the kiosk's thank-you screen shows before the welcome screen returns.",
    ),
    Setting(
        "KIOSK_ONSCREEN_KEYBOARD",
        True,
        "Show the kiosk's on-screen keyboard for text answers (false for kiosks with a keyboard).",
    ),
    Setting(
        "KIOSK_READ_ALOUD_ON_ARRIVAL",
        False,
        "Read each kiosk screen aloud as it appears (else only when Listen is pressed).",
    ),
    # SMS
    Setting("TWILIO_ACCOUNT_SID", "", "Twilio account SID for outbound SMS."),
    Setting(
        "TWILIO_AUTH_TOKEN",
        "",
        "Twilio auth token: checks inbound webhook signatures. Unset: the webhook refuses all.",
    ),
    Setting("TWILIO_FROM", "", "Sender phone number (E.164) for outbound SMS."),
    Setting(
        "TWILIO_MESSAGING_SERVICE_SID", "", "Messaging service SID, used instead of TWILIO_FROM."
    ),
    Setting(
        "PUBLIC_URL",
        "",
        "Base URL Twilio calls (e.g. https://hub.example.org), to check signatures behind a proxy.",
    ),
    Setting(
        "PHONE_PEPPER",
        "",
        "Secret for pseudonymising phone numbers (HMAC-SHA256); keep it outside the database.",
    ),
    Setting("SMS_SESSION_HOURS", 24, "Hours an SMS conversation may sit idle before it expires."),
    Setting("SMS_DEFAULT_REGION", "US", "Region for phone numbers written without a country code."),
    Setting("SMS_SIMULATOR", False, "Serve the SMS simulator page even with Twilio credentials."),
    Setting("SMS_RATE_PER_SECOND", 1.0, "Outbound SMS: most messages a second from one sender."),
    Setting(
        "SMS_QUIET_HOURS",
        "21:00-09:00",
        "Local hours (TIMEZONE) when no invitation or reminder is sent; empty for none.",
    ),
    Setting("SMS_MAX_ATTEMPTS", 5, "Outbound SMS: attempts before a transient failure is final."),
    Setting("SMS_RETRY_SECONDS", 60, "Outbound SMS: first retry delay, doubled at each attempt."),
    Setting(
        "SMS_REPLY_BUDGET",
        60,
        "Most replies to a number in a clock hour (20 or more); later texts are kept, unanswered.",
    ),
    Setting(
        "SMS_GATEWAY",
        "twilio",
        "What receives and sends texts: `twilio`, `gammu` (a GSM modem) or `android` (a phone).",
    ),
    Setting(
        "SMS_GATEWAY_PER_MINUTE",
        6,
        "gammu and android gateways: most messages sent a minute (a modem's pace).",
    ),
    Setting(
        "SMS_ERASE_NUMBERS",
        True,
        "gammu/android: erase a number once its conversation and replies are done, unless invited.",
    ),
    Setting("GAMMU_CONFIG", "", "gammu gateway: path of gammu-smsd's configuration file."),
    Setting("ANDROID_URL", "", "android gateway: the phone's local server, http://IP:8080."),
    Setting("ANDROID_USERNAME", "", "android gateway: the local server's user name."),
    Setting("ANDROID_PASSWORD", "", "android gateway: the local server's password."),
    Setting("ANDROID_WEBHOOK_SECRET", "", "android gateway: the app's webhook signing key."),
    # Voice (phone calls)
    Setting(
        "VOICE_CONSULTATION",
        "",
        "Consultation a phone call answers when the webhook URL names none (empty: the one open).",
    ),
    Setting(
        "VOICE_SESSION_HOURS",
        24,
        "Hours a dropped call's answers wait for the caller to call back.",
    ),
    Setting(
        "VOICE_RECORDINGS",
        False,
        "Let callers answer text questions by speaking (kept as audio, never transcribed).",
    ),
    # Sync
    Setting("HUB_URL", "", "Node: base URL of the hub to sync with."),
    Setting("DEVICE_ID", "", "Node: this device's id, from `participate add-device`."),
    Setting("DEVICE_SECRET", "", "Node: this device's secret, from `participate add-device`."),
    Setting("SYNC_INTERVAL", 30, "Node: seconds between scheduled sync runs."),
    Setting(
        "SYNC_PROMPT_SECONDS",
        3,
        "Node: seconds between checks for new submissions to push at once.",
    ),
    Setting("SYNC_BATCH_SIZE", 500, "Node: submissions per push request (gzip JSON)."),
    Setting("SYNC_TIMEOUT", 30, "Node: seconds to wait for the hub before a request fails."),
    Setting("SYNC_BACKOFF_CAP", 600, "Node: longest wait, in seconds, between failed syncs."),
    Setting(
        "SYNC_CLOCK_WINDOW",
        300,
        "Hub: seconds a signed request's timestamp may differ from the hub's clock.",
    ),
    Setting("SYNC_MAX_BATCH_ITEMS", 5000, "Hub: most submissions accepted in one push (else 413)."),
    Setting(
        "SYNC_MAX_BATCH_BYTES",
        32 * 1024 * 1024,
        "Hub: largest push body once un-gzipped, in bytes (else 413).",
    ),
    # Hub (staff pages)
    Setting("HUB_SESSION_HOURS", 12, "Hub: hours a staff sign-in lasts, however active."),
    Setting("HUB_IDLE_MINUTES", 30, "Hub: minutes without a request before a staff sign-in ends."),
    Setting(
        "HUB_LOGIN_MAX_FAILURES",
        5,
        "Hub: failed passwords in a row before a staff account is locked for a while.",
    ),
    Setting("HUB_LOGIN_LOCK_MINUTES", 15, "Hub: minutes a staff account stays locked."),
    Setting("HUB_PAGE_SIZE", 50, "Hub: submissions per page in the staff lists."),
    Setting(
        "HUB_STALE_MINUTES",
        15,
        "Hub: minutes without contact after which a node is called out as stale.",
    ),
    Setting(
        "HUB_BACKLOG_WARN",
        1000,
        "Hub: unsynced submissions on a node at which it is called out as backed up.",
    ),
    # Read API and webhooks (hub)
    Setting("WEBHOOK_POLL_SECONDS", 15, "Hub: seconds between runs of the webhook delivery job."),
    Setting("WEBHOOK_TIMEOUT_SECONDS", 10, "Hub: seconds a webhook receiver has to answer."),
    Setting(
        "WEBHOOK_RETRY_HOURS",
        24,
        "Hub: hours a webhook delivery is retried (with growing delays) before it is given up.",
    ),
)

DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


def load(config: flask.Config, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill a Flask config: the defaults, then PARTICIPATE_* variables, then `overrides`.

    `create_app` does this for an app; a command that needs only the settings (say,
    `participate invite`) does it on a bare `flask.Config`, without building an app.
    """
    config.update(DEFAULTS)
    config.from_prefixed_env("PARTICIPATE")
    if overrides:
        config.update(overrides)
