"""What one number's texts may cost us: the reply budget and the auto-responder loop guard.

Every reply is billed, so each number has two limits per clock hour (UTC), kept in the
store (`sms_reply_budget`) so every process and a restart agree:

- the **reply budget** (SMS_REPLY_BUDGET): replies of any kind. A flood from one number
  is still stored and processed, text by text, but past the budget it is not answered.
  The first text held back in an hour is logged (once per number per hour) and the
  staff SMS page lists the numbers concerned, by pseudonym.
- the **loop guard** (UNPROMPTED_REPLIES): replies nobody asked for by answering a
  question. Another system's automatic reply to our help would get help again, for ever;
  so a text outside a conversation, or the same text again, gets a few help or hint
  replies an hour, then silence. A person in a conversation who answers unclearly with
  something new always gets the hint and the question again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from participate import clock, keywords

log = logging.getLogger(__name__)

UNPROMPTED_REPLIES = 5
# Replies that answer something the person could not have meant as an answer.
UNPROMPTED_ACTIONS = frozenset({"unknown"})
# Replies to an answer we could not take: unprompted only when the text is a repeat.
HINT_ACTIONS = frozenset({"hint"})


@dataclass(frozen=True)
class Verdict:
    """Whether the replies to one text may go, and why not if they may not."""

    allowed: bool
    reason: str = ""  # "budget" or "loop" when held back
    first_withheld: bool = False  # the first text held back this hour, for this number


def hour_of(now: datetime) -> str:
    """Return the UTC clock hour a moment falls in, as the budget's key (2026-12-01T10)."""
    return clock.to_text(now)[:13]


def fingerprint(body: str) -> str:
    """Return a short digest of a text, enough to notice the same text again (not the text)."""
    return hashlib.sha256(keywords.normalize(body).encode("utf-8")).hexdigest()[:16]


def spend(
    db: sqlite_utils.Database,
    respondent: str,
    *,
    body: str,
    action: str,
    replies: int,
    budget: int,
    now: datetime,
) -> Verdict:
    """Book the replies to one text against its number's hour, or say why they may not go.

    Runs in the caller's write transaction, once per inbound text (so the repeat check
    sees every text, answered or not).
    """
    hour = hour_of(now)
    text = fingerprint(body)
    row = db.execute(
        "INSERT INTO sms_reply_budget (respondent, hour) VALUES (?, ?)"
        " ON CONFLICT (respondent, hour) DO UPDATE SET respondent = respondent"
        " RETURNING replies, unprompted, withheld, last_text",
        [respondent, hour],
    ).fetchone()
    spent, unprompted, withheld, last_text = row
    repeat = text == last_text
    is_unprompted = action in UNPROMPTED_ACTIONS or (action in HINT_ACTIONS and repeat)
    verdict = Verdict(True)
    if replies:
        if is_unprompted and unprompted >= UNPROMPTED_REPLIES:
            verdict = Verdict(False, "loop", first_withheld=withheld == 0)
        elif spent + replies > budget:
            verdict = Verdict(False, "budget", first_withheld=withheld == 0)
    booked = replies if verdict.allowed else 0
    db.execute(
        "UPDATE sms_reply_budget SET replies = replies + ?, unprompted = unprompted + ?,"
        " withheld = withheld + ?, last_text = ? WHERE respondent = ? AND hour = ?",
        [
            booked,
            1 if booked and is_unprompted else 0,
            0 if verdict.allowed else 1,
            text,
            respondent,
            hour,
        ],
    )
    if verdict.first_withheld:
        # Once per number per hour: the pseudonym's start, never the number or the text.
        log.warning(
            "sms.replies_withheld",
            extra={"respondent": respondent[:12], "reason": verdict.reason, "hour": hour},
        )
    return verdict


def withheld_lately(
    db: sqlite_utils.Database, *, now: datetime, days: int = 7
) -> list[dict[str, Any]]:
    """Return the hours in which a number had texts left unanswered, newest first."""
    since = hour_of(now - timedelta(days=days))
    rows = db.execute(
        "SELECT respondent, hour, replies, withheld FROM sms_reply_budget"
        " WHERE withheld > 0 AND hour >= ? ORDER BY hour DESC, withheld DESC LIMIT 200",
        [since],
    ).fetchall()
    return [
        {"respondent": r[0][:12], "hour": r[1], "replies": r[2], "withheld": r[3]} for r in rows
    ]


def forget_before(db: sqlite_utils.Database, now: datetime, *, days: int = 7) -> int:
    """Delete the hours older than `days` (the retention job); return how many."""
    cursor = db.execute(
        "DELETE FROM sms_reply_budget WHERE hour < ?", [hour_of(now - timedelta(days=days))]
    )
    return cursor.rowcount
