"""The conversation engine: one inbound SMS in, the replies out, the state in the store.

`receive` handles one message in one write transaction: it records the MessageSid (a
repeat changes nothing), then STOP/START/HELP before anything else, then a keyword
(which starts a conversation in that keyword's language), then an answer to the
question being asked. A keyword whose consultation takes no answers now (closed by its
dates or by staff, or not open yet) gets a short "closed" reply in its language.

Skip logic: after each answer the next question sent is the next one its rule asks
(`Consultation.asked`), numbered among those that will be asked ("2/4"); an answer to a
question its rule no longer asks is dropped before the submission is stored. Whether a
consultation takes answers is decided at the organisation's local time to the minute
(a closing time of 17:00 takes no text from 17:00); a conversation whose consultation
closes, by its time or by staff, ends at its next text, its answers kept as an
incomplete submission. A conversation's position and answers are saved after every
message, so a restart loses nothing; its submission id is made when it starts, so
recording the end is idempotent. A conversation that is stopped, replaced by another
keyword or left idle beyond SMS_SESSION_HOURS keeps its answers as an incomplete
submission.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from participate import clock, consultations, keywords, store, submissions
from participate.consultations import Consultation
from participate.errors import AnswerError, AnswersError, NotFound

from . import budget, contacts, offers, phones, prompts, segments
from .config import SmsConfig
from .parsing import NO, YES, parse_answer

log = logging.getLogger(__name__)

# Commands that say which language to answer in when there is no conversation yet.
FRENCH_COMMANDS = frozenset({"ARRET", "AIDE"})
# Twilio also opts a number back in on YES; for anyone else it is an answer.
OPTED_OUT_OPT_IN_WORDS = frozenset({"YES"})


@dataclass(frozen=True)
class Inbound:
    """One text received, as the webhook or the simulator hands it to the engine."""

    phone: str  # E.164
    body: str
    message_sid: str
    num_media: int = 0
    opt_out_type: str = ""  # Twilio Advanced Opt-Out: STOP, START or HELP, already answered


@dataclass
class Outcome:
    """What the engine did with a text (`action`) and the replies to send."""

    action: str
    replies: list[str] = field(default_factory=list)
    withheld: str = ""  # why the replies were held back: "budget" or "loop" (see budget)


@dataclass
class Conversation:
    """A row of sms_conversations: where one number is in one consultation."""

    id: int
    contact_id: int
    consultation_id: str
    consultation_version: str
    language: str
    position: int
    answers: dict[str, Any]
    submission_id: str
    started_at: str
    updated_at: str


def _moment(now: datetime | None) -> datetime:
    return now or clock.parse(clock.utcnow())


def receive(
    db: sqlite_utils.Database, config: SmsConfig, inbound: Inbound, *, now: datetime | None = None
) -> Outcome:
    """Handle one inbound message and return the replies to send, all in one transaction."""
    with store.write(db):
        outcome = handle(db, config, inbound, now=now)
    log_outcome(outcome)
    return outcome


def handle(
    db: sqlite_utils.Database, config: SmsConfig, inbound: Inbound, *, now: datetime | None = None
) -> Outcome:
    """Handle one inbound message inside the caller's write transaction (see group_commit)."""
    if not db.conn.in_transaction:
        raise RuntimeError("handle() must run inside a write transaction; use receive()")
    local = clock.local_now(config.timezone, now)
    now = _moment(now)
    cursor = db.execute(
        "INSERT OR IGNORE INTO sms_inbound (message_sid, received_at) VALUES (?, ?)",
        [inbound.message_sid, clock.to_text(now)],
    )
    if cursor.rowcount == 0:
        return Outcome("duplicate")
    turn = _Turn(db, config, inbound, now, local)
    outcome = turn.run()
    verdict = budget.spend(
        db,
        turn.respondent,
        body=inbound.body,
        action=outcome.action,
        replies=len(outcome.replies),
        budget=config.reply_budget,
        now=now,
    )
    if not verdict.allowed:
        outcome.replies = []
        outcome.withheld = verdict.reason
    return outcome


def next_position(consultation: Consultation, answers: dict[str, Any], after: int) -> int:
    """Return the index of the first question after `after` that its rule asks, given the
    answers to the questions before it; len(questions) when none is left."""
    following = consultation.next_asked(answers, after)
    return len(consultation.questions) if following is None else following


def log_outcome(outcome: Outcome) -> None:
    """Log one line per message: what was done, and what each reply costs (no phone number)."""
    if not log.isEnabledFor(logging.INFO):
        return
    measured = [segments.measure(reply) for reply in outcome.replies]
    log.info(
        "sms.reply",
        extra={
            "action": outcome.action,
            "replies": len(measured),
            "withheld": outcome.withheld,
            "encoding": [m.encoding for m in measured],
            "segments": [m.segments for m in measured],
            "flagged": "".join(ch for m in measured for ch in m.flagged),
        },
    )


class _Turn:
    """One inbound message's handling, inside the caller's write transaction."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        config: SmsConfig,
        inbound: Inbound,
        now: datetime,
        local: datetime,
    ) -> None:
        self.db = db
        self.config = config
        self.inbound = inbound
        self.now = now
        self.stamp = clock.to_text(now)
        self.local = local  # the local time to the minute: consultations open and close on it
        self.respondent = phones.pseudonym(inbound.phone, config.pepper)
        self.contact = contacts.ensure(db, inbound.phone, self.respondent, self.stamp)
        self.conversation = active_conversation(db, self.contact.id)
        if self.conversation and _idle(self.conversation, config, now):
            _finish(db, self.conversation, "expired", self.respondent, self.stamp)
            self.conversation = None
        self.word = keywords.normalize(inbound.body)

    # -- language ---------------------------------------------------------------------

    def language(self) -> str:
        if self.conversation:
            return self.conversation.language
        if self.word in FRENCH_COMMANDS:
            return "fr"
        return self.contact.language or self.config.languages[0]

    # -- the order of handling: commands, opted-out, keyword, answer -------------------

    def run(self) -> Outcome:
        opt = self.inbound.opt_out_type.upper()
        if self.word in keywords.OPT_OUT_WORDS or opt == "STOP":
            return self.opt_out()
        opted_out = bool(self.contact.opted_out_at)
        if (
            self.word in keywords.OPT_IN_WORDS
            or opt == "START"
            or (opted_out and self.word in OPTED_OUT_OPT_IN_WORDS)
        ):
            return self.opt_in()
        if self.word in keywords.HELP_WORDS or opt == "HELP":
            return self.help()
        # A keyword is one word (checked when loading), so longer texts skip the lookup.
        one_word = bool(self.word) and " " not in self.word
        match = (
            consultations.by_keyword(self.db, self.inbound.body, self.local) if one_word else None
        )
        if opted_out:
            if match:
                keyword = keywords.normalize(self.inbound.body)
                return Outcome("opted_out", [prompts.opted_out_keyword(keyword, match[1])])
            return Outcome("ignored")
        offer = None if self.conversation else self._take_offer()
        if offer and (self.word in YES or self.word in NO):
            return self.results_answer(offer, accepted=self.word in YES)
        if match and not self._answers_question():
            return self.keyword(*match)
        closed = (
            consultations.closed_by_keyword(self.db, self.inbound.body, self.local)
            if one_word and not match
            else None
        )
        # The conversation's own keyword, closed: answer() ends the conversation.
        if (
            closed
            and not self._answers_question()
            and not (self.conversation and self.conversation.consultation_id == closed[0].id)
        ):
            return self.keyword_closed(*closed)
        if self.conversation:
            return self.answer()
        return Outcome("unknown", [self.help_idle(self.language())])

    def opt_out(self) -> Outcome:
        lang = self.language()
        if self.conversation:
            _finish(self.db, self.conversation, "stopped", self.respondent, self.stamp)
        contacts.mark_opted_out(self.db, self.contact.id, self.stamp)
        # With Advanced Opt-Out Twilio has confirmed already; a second text would be billed.
        replies = [] if self.inbound.opt_out_type else [prompts.opted_out(lang)]
        return Outcome("opt_out", replies)

    def opt_in(self) -> Outcome:
        lang = self.language()
        contacts.opt_in(self.db, self.contact.id, self.stamp)
        replies = [] if self.inbound.opt_out_type else [prompts.opted_in(lang)]
        return Outcome("opt_in", replies)

    def help(self) -> Outcome:
        lang = self.language()
        if self.contact.opted_out_at:
            return Outcome("help", [prompts.opted_out(lang)])
        if self.conversation:
            self._save(self.conversation)  # asking for help is activity: not idle
            consultation = self.pinned()
            text = prompts.help_in_conversation(consultation, lang)
            prompt = self._prompt(consultation, self.conversation)
            return Outcome("help", [f"{text}\n{prompt}"])
        return Outcome("help", [self.help_idle(lang)])

    def help_idle(self, lang: str) -> str:
        opened = consultations.open_now(self.db, self.local)
        keywords = [k for c in opened if (k := prompts.keyword(c, lang))]
        return prompts.help_idle(keywords, lang)

    def keyword(self, consultation: Consultation, lang: str) -> Outcome:
        contacts.set_language(self.db, self.contact.id, lang, self.stamp)
        conversation = self.conversation
        if conversation and conversation.consultation_id == consultation.id:
            # The keyword again mid-way: carry on where they were, in the keyword's language.
            conversation.language = lang
            self._save(conversation)
            return Outcome("resume", [self._prompt(self.pinned(), conversation)])
        if conversation:
            _finish(self.db, conversation, "abandoned", self.respondent, self.stamp)
        self.conversation = _start(self.db, self.contact.id, consultation, lang, self.stamp)
        # Two messages, each fitting a segment where possible, rather than one long one
        # that a basic phone may show in pieces.
        opening = prompts.welcome(consultation, lang)
        return Outcome("start", [opening, self._prompt(consultation, self.conversation)])

    def keyword_closed(self, consultation: Consultation, lang: str) -> Outcome:
        """Say a keyword's consultation takes no answers; a conversation in another one
        carries on, its question repeated."""
        not_yet = not self._closed_by_staff(consultation) and bool(
            consultation.opens_at and self.local < consultation.opens_at
        )
        reply = prompts.keyword_closed(consultation, lang, not_yet=not_yet)
        conversation = self.conversation
        if conversation is None:
            contacts.set_language(self.db, self.contact.id, lang, self.stamp)
            return Outcome("closed_keyword", [reply])
        self._save(conversation)  # a text in a conversation is activity
        return Outcome("closed_keyword", [f"{reply}\n{self._prompt(self.pinned(), conversation)}"])

    def answer(self) -> Outcome:
        conversation = self.conversation
        assert conversation is not None
        lang = conversation.language
        consultation = self.pinned()
        if not self._accepting(consultation):
            _finish(self.db, conversation, "abandoned", self.respondent, self.stamp)
            return Outcome("closed", [prompts.closed(consultation, lang)])
        question = consultation.questions[conversation.position]
        body = self.inbound.body
        try:
            if not body.strip() and self.inbound.num_media:
                raise AnswerError("no_text", "a picture without text", question=question.id)
            if self.word in keywords.SKIP_WORDS:
                if question.required:
                    raise AnswerError("required", "a required question", question=question.id)
                conversation.answers.pop(question.id, None)
            else:
                conversation.answers[question.id] = parse_answer(question, body, lang)
        except AnswerError as error:
            hint = prompts.hint(error.code, lang, error.params)
            prompt = self._prompt(consultation, conversation)
            self._save(conversation)  # an unclear answer still counts as activity
            return Outcome("hint", [f"{hint}\n{prompt}"])
        # Skip logic: what hangs on a changed answer goes, and the next question is the
        # next one its rule asks.
        conversation.answers = consultation.only_asked(conversation.answers)
        conversation.position = next_position(
            consultation, conversation.answers, conversation.position
        )
        if conversation.position >= len(consultation.questions):
            self._save(conversation)
            _finish(self.db, conversation, "complete", self.respondent, self.stamp)
            replies = [prompts.thanks(consultation, lang)]
            if consultation.results_by_text:
                offers.offer(self.db, self.contact.id, consultation.id, lang, self.stamp)
                replies.append(prompts.results_offer(lang))
            return Outcome("complete", replies)
        self._save(conversation)
        return Outcome("answer", [self._prompt(consultation, conversation)])

    def _take_offer(self) -> offers.Offer | None:
        since = clock.to_text(self.now - timedelta(hours=self.config.session_hours))
        return offers.take_offer(self.db, self.contact.id, since)

    def results_answer(self, offer: offers.Offer, *, accepted: bool) -> Outcome:
        if accepted:
            offers.accept(self.db, offer, self.inbound.phone, self.stamp)
        return Outcome("results_offer", [prompts.results_answer(accepted, offer.language)])

    # -- helpers ----------------------------------------------------------------------

    def _prompt(self, consultation: Consultation, conversation: Conversation) -> str:
        """Return the question the conversation is at, numbered among those asked."""
        return prompts.question_prompt(
            consultation, conversation.position, conversation.language, conversation.answers
        )

    def _closed_by_staff(self, consultation: Consultation) -> bool:
        row = store.first_row(
            self.db, "SELECT closed FROM consultations WHERE id = ?", [consultation.id]
        )
        return bool(row and row["closed"])

    def pinned(self) -> Consultation:
        assert self.conversation is not None
        return consultations.get(
            self.db, self.conversation.consultation_id, self.conversation.consultation_version
        )

    def _answers_question(self) -> bool:
        """Say whether the text validly answers the current question, unless free text."""
        # A choice called "Park" answered "park" is an answer even if PARK starts another
        # consultation; any word answers a free-text question, so there the keyword wins.
        if self.conversation is None:
            return False
        question = self.pinned().questions[self.conversation.position]
        if question.type == "text":
            return False
        try:
            parse_answer(question, self.inbound.body, self.conversation.language)
        except AnswerError:
            return False
        return True

    def _accepting(self, pinned: Consultation) -> bool:
        """Say whether the conversation's consultation still takes answers now: its current
        version's dates and times at the local minute, not closed by staff nor archived."""
        try:
            current = consultations.get(self.db, pinned.id)
        except NotFound:
            return False
        return consultations.is_accepting(self.db, current, self.local)

    def _save(self, conversation: Conversation) -> None:
        self.db.execute(
            "UPDATE sms_conversations SET position = ?, answers = ?, language = ?,"
            " updated_at = ? WHERE id = ?",
            [
                conversation.position,
                json.dumps(conversation.answers, ensure_ascii=False),
                conversation.language,
                self.stamp,
                conversation.id,
            ],
        )


_CONVERSATION_COLUMNS = (
    "id, contact_id, consultation_id, consultation_version, language, position, answers,"
    " submission_id, started_at, updated_at"
)


def _conversation(row: dict[str, Any]) -> Conversation:
    return Conversation(**{**row, "answers": json.loads(row["answers"])})


def active_conversation(db: sqlite_utils.Database, contact_id: int) -> Conversation | None:
    """Return the conversation a contact is in, or None."""
    row = store.first_row(
        db,
        f"SELECT {_CONVERSATION_COLUMNS} FROM sms_conversations"  # noqa: S608 (constant)
        " WHERE contact_id = ? AND status = 'active'",
        [contact_id],
    )
    return _conversation(row) if row else None


def _idle(conversation: Conversation, config: SmsConfig, now: datetime) -> bool:
    return clock.parse(conversation.updated_at) < now - timedelta(hours=config.session_hours)


def _start(
    db: sqlite_utils.Database, contact_id: int, consultation: Consultation, lang: str, stamp: str
) -> Conversation:
    submission_id = submissions.new_id()
    cursor = db.execute(
        "INSERT INTO sms_conversations (contact_id, consultation_id, consultation_version,"
        " language, submission_id, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [contact_id, consultation.id, consultation.version, lang, submission_id, stamp, stamp],
    )
    return Conversation(
        cursor.lastrowid, contact_id, consultation.id, consultation.version, lang, 0, {},
        submission_id, stamp, stamp,
    )  # fmt: skip


def _finish(
    db: sqlite_utils.Database,
    conversation: Conversation,
    status: str,
    respondent: str,
    stamp: str,
) -> dict[str, Any] | None:
    """End a conversation, recording its submission (incomplete unless `status` is complete)."""
    complete = status == "complete"
    record = None
    consultation = consultations.get(
        db, conversation.consultation_id, conversation.consultation_version
    )
    # An answer its rule no longer asks (an earlier one changed) is not kept.
    answers = consultation.only_asked(conversation.answers)
    if complete or answers:
        # An incomplete conversation with no answer at all is not a submission.
        try:
            record = submissions.record(
                db,
                consultation,
                channel="sms",
                language=conversation.language,
                answers=answers,
                started_at=conversation.started_at,
                submission_id=conversation.submission_id,
                respondent=respondent,
                complete=complete,
            )
        except AnswersError as error:
            # Answers were validated one by one; this means the definition is broken.
            log.error(
                "sms.record_failed",
                extra={"conversation": conversation.id, "error": str(error)},
            )
    db.execute(
        "UPDATE sms_conversations SET status = ?, ended_at = ?, updated_at = ? WHERE id = ?",
        [status, stamp, stamp, conversation.id],
    )
    log.info(
        "sms.conversation_ended",
        extra={
            "conversation": conversation.id,
            "status": status,
            "answers": len(answers),
            "submission": record["id"] if record else None,
        },
    )
    return record


def expire_idle(
    db: sqlite_utils.Database, config: SmsConfig, *, now: datetime | None = None
) -> int:
    """End conversations idle beyond SMS_SESSION_HOURS, keeping their answers; count them."""
    now = _moment(now)
    cutoff = clock.to_text(now - timedelta(hours=config.session_hours))
    stamp = clock.to_text(now)
    expired = 0
    while True:
        with store.write(db):
            rows = list(
                db.query(
                    f"SELECT {_CONVERSATION_COLUMNS} FROM sms_conversations"  # noqa: S608
                    " WHERE status = 'active' AND updated_at < ? ORDER BY updated_at LIMIT 50",
                    [cutoff],
                )
            )
            for row in rows:
                conversation = _conversation(row)
                respondent = db.execute(
                    "SELECT respondent FROM sms_contacts WHERE id = ?", [conversation.contact_id]
                ).fetchone()[0]
                _finish(db, conversation, "expired", respondent, stamp)
        expired += len(rows)
        if len(rows) < 50:
            return expired
