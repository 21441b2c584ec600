"""The call engine: one Twilio request in (a call starting, keys pressed), TwiML out.

A call walks through stages: `language` (the bilingual menu), `questions`, `ended`. Its
answers live in a `voice_sessions` row saved after every key, so a dropped call loses
nothing and a call back within VOICE_SESSION_HOURS resumes at the same question; a
session left longer is ended by `expire_idle` and its answers kept as an incomplete
submission (as an idle SMS conversation is). Every request carries a `step` number in
its URL; the TwiML answered to a step is stored, so Twilio retrying a step (same CallSid
and step) gets the same answer and changes nothing.

Keys: a choice's number, 1 yes and 2 no, a scale's digit; numbers end with the pound
key (#), star (*) being the decimal point inside one; a multi-choice question takes one
key at a time, then #. `*` alone repeats the question; `#` alone skips an optional one;
9 alone, where it does not answer the question, adds the number to the opt-out list.
Text questions are skipped unless VOICE_RECORDINGS lets callers speak their answer.

Skip logic: a question whose rule (`ask_if`) does not hold for the answers keyed so far
is never said, and an answer to a question its rule no longer asks is dropped before
the submission is stored. Whether a consultation takes calls is decided at the
organisation's local time to the minute (closing at 17:00 takes no call, and no key,
from 17:00): a call whose consultation closes, by its time or by staff, is told so at
its next key and ends, its answers kept as an incomplete submission.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from twilio.twiml.voice_response import VoiceResponse

from participate import clock, consultations, store, submissions
from participate.answers import Skipped, validate_answer
from participate.consultations import Consultation, Question, localize
from participate.errors import AnswerError, AnswersError, NotFound
from participate.sms import Caller, CallerNumber, identify_caller, opt_out_caller

from . import prompts

log = logging.getLogger(__name__)

RETRIES = 3  # unclear or missing keys at one question before moving on or saying goodbye
GATHER_TIMEOUT = 8  # seconds of silence before a Gather gives up
RECORD_SECONDS = 120
OPT_OUT_KEY = "9"
REPEAT_KEY = "*"
FINISH_KEY = "#"
_KEYED_NUMBER = re.compile(r"\d+(\.\d*)?|\.\d+")


@dataclass(frozen=True)
class VoiceConfig:
    """The channel's settings, read once when the app starts."""

    account_sid: str
    auth_token: str
    public_url: str
    consultation: str
    session_hours: float
    recordings: bool
    timezone: str


@dataclass(frozen=True)
class CallEvent:
    """One request from Twilio about a call, as the webhook or the simulator hands it over."""

    call_sid: str
    caller: CallerNumber
    step: int = 0
    digits: str | None = None  # None: the Gather timed out (no key pressed)
    consultation_id: str = ""  # from the webhook URL's query, else VOICE_CONSULTATION
    recording_sid: str = ""
    recording_url: str = ""
    recording_duration: int | None = None


@dataclass
class Session:
    """A row of voice_sessions: where one caller is in one consultation."""

    id: int
    contact_id: int
    consultation_id: str
    consultation_version: str
    language: str
    position: int
    answers: dict[str, Any]
    selected: list[str]
    retries: int
    submission_id: str
    started_at: str
    updated_at: str


@dataclass
class Reply:
    """What to say (in order, each in its language), then to gather keys, record, or hang up."""

    says: list[tuple[str, str]] = field(default_factory=list)
    gather: Question | None = None  # keys for this question (None with `menu`: the menu)
    menu: bool = False
    record: bool = False
    hangup: bool = False
    action: str = ""

    def say(self, text: str, lang: str) -> Reply:
        self.says.append((text, lang))
        return self


def respond(
    db: sqlite_utils.Database,
    config: VoiceConfig,
    event: CallEvent,
    action: str,
    *,
    now: datetime | None = None,
) -> str:
    """Handle one request about a call in its own transaction and return its TwiML."""
    with store.write(db):
        return handle(db, config, event, action, now=now)


def handle(
    db: sqlite_utils.Database,
    config: VoiceConfig,
    event: CallEvent,
    action: str,
    *,
    now: datetime | None = None,
) -> str:
    """Handle one request inside the caller's write transaction (see group_commit).

    A step answered before (Twilio retrying the same CallSid and step) gets the TwiML it
    got then, and changes nothing.
    """
    if not db.conn.in_transaction:
        raise RuntimeError("handle() must run inside a write transaction; use respond()")
    stored = store.first_row(
        db,
        "SELECT twiml FROM voice_steps WHERE call_sid = ? AND step = ?",
        [event.call_sid, event.step],
    )
    if stored is not None:
        log.info("voice.repeated_step", extra={"step": event.step})
        return str(stored["twiml"])
    local = clock.local_now(config.timezone, now)
    turn = _Turn(db, config, event, now or clock.parse(clock.utcnow()), local)
    reply = turn.run()
    twiml = render(reply, f"{action}?step={event.step + 1}")
    if turn.call_known:
        db.execute(
            "INSERT INTO voice_steps (call_sid, step, twiml) VALUES (?, ?, ?)",
            [event.call_sid, event.step, twiml],
        )
    return twiml


def unavailable(reason: str) -> str:
    """Return the TwiML that tells a caller, in both languages, that no survey can be taken."""
    reply = Reply(hangup=True)
    for lang, text in prompts.unavailable(reason).items():
        reply.say(text, lang)
    return render(reply, "")


def render(reply: Reply, next_url: str) -> str:
    """Return a Reply as TwiML: the says, then a Gather or Record posting to `next_url`."""
    response = VoiceResponse()
    says = list(reply.says)
    if reply.gather is not None or reply.menu:
        single = reply.menu or prompts.single_key(reply.gather)
        gather = response.gather(
            input="dtmf",
            action=next_url,
            method="POST",
            timeout=GATHER_TIMEOUT,
            # One key: every key, # and * included, is sent at once as Digits. Otherwise
            # the pound key ends the entry (and is not sent).
            num_digits=1 if single else None,
            finish_on_key="" if single else FINISH_KEY,
            action_on_empty_result=not single,
        )
        for text, lang in says:
            gather.say(text, language=prompts.say_language(lang))
        # No key before the timeout: Twilio carries on here, and tells us so.
        response.redirect(f"{next_url}&timeout=1", method="POST")
        return str(response)
    for text, lang in says:
        response.say(text, language=prompts.say_language(lang))
    if reply.record:
        response.record(
            action=next_url,
            method="POST",
            max_length=RECORD_SECONDS,
            finish_on_key=FINISH_KEY,
            play_beep=True,
            timeout=5,
            trim="trim-silence",
        )
        response.redirect(f"{next_url}&timeout=1", method="POST")
    elif reply.hangup:
        response.hangup()
    return str(response)


class _Turn:
    """One request's handling, inside the caller's write transaction."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        config: VoiceConfig,
        event: CallEvent,
        now: datetime,
        local: datetime,
    ) -> None:
        self.db = db
        self.config = config
        self.event = event
        self.now = now
        self.stamp = clock.to_text(now)
        self.local = local  # the local time to the minute: consultations open and close on it
        self.call = self._call_row()
        self.call_known = self.call is not None
        self.caller: Caller | None = None
        self.session: Session | None = None

    # -- the stages ---------------------------------------------------------------------

    def run(self) -> Reply:
        if self.call is None:
            return self.start()
        if self.call["stage"] == "ended":
            return Reply(hangup=True)
        self.caller = identify_caller(self.db, self.event.caller, self.stamp)
        if self.call["stage"] == "language":
            consultation = self._consultation(self.call["consultation_id"])
            if consultation is None:
                return self._unavailable()
            return self.choose_language(consultation)
        # Questions: `answer` ends a call whose consultation closed (by its time or by
        # staff) in the caller's language, keeping the answers as an incomplete submission.
        self.session = self._session_of_call()
        if self.session is None:
            return self._end(Reply(hangup=True))
        return self.answer()

    def start(self) -> Reply:
        consultation = self._consultation(self.event.consultation_id or self.config.consultation)
        if consultation is None:
            log.info("voice.unavailable", extra={"consultation": self.event.consultation_id})
            return self._unavailable()
        self.caller = identify_caller(self.db, self.event.caller, self.stamp)
        self.db.execute(
            "INSERT INTO voice_calls (call_sid, contact_id, consultation_id, started_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?)",
            [self.event.call_sid, self.caller.contact_id, consultation.id, self.stamp, self.stamp],
        )
        self.call_known = True
        self.call = self._call_row()
        if len(consultation.languages) == 1:
            return self.begin(consultation, consultation.languages[0])
        return self._menu(consultation)

    def choose_language(self, consultation: Consultation) -> Reply:
        lang = prompts.MENU_KEYS.get(self.event.digits or "")
        if lang in consultation.languages:
            return self.begin(consultation, lang)
        retries = self.call["retries"] + 1
        self._update_call(retries=retries)
        if retries >= RETRIES:
            return self._end(self._unavailable())
        reply = self._menu(consultation)
        if self.event.digits is not None:
            hint = prompts.menu_invalid()
            reply.says[:0] = [(hint[lang], lang) for lang in consultation.languages if lang in hint]
        return reply

    def begin(self, consultation: Consultation, lang: str) -> Reply:
        assert self.caller is not None
        session = self._active_session()
        resumed = session is not None and session.consultation_id == consultation.id
        if session is not None and not resumed:
            self._finish(session, "abandoned")
        if not resumed:
            session = self._start_session(consultation, lang)
        assert session is not None
        session.language = lang
        session.retries = 0
        self.session = session
        self._save()
        self._update_call(stage="questions", language=lang, session_id=session.id)
        pinned = self._pinned()
        reply = Reply().say(prompts.intro(pinned, lang, resumed=resumed), lang)
        return self._ask(pinned, reply)

    def answer(self) -> Reply:
        session = self.session
        assert session is not None
        lang = session.language
        pinned = self._pinned()
        if not self._accepting(pinned):
            return self._end(Reply(hangup=True).say(prompts.closed(lang), lang), finish="abandoned")
        question = pinned.questions[session.position]
        digits = self.event.digits
        if question.type == "text":
            return self._recorded(pinned, question)
        if digits is None:
            return self._retry(pinned, question, prompts.no_input(lang))
        if digits == REPEAT_KEY:
            return self._ask(pinned, Reply())
        if digits == OPT_OUT_KEY and not _answers(question, digits):
            return self._opt_out()
        if question.type == "multi" and digits != FINISH_KEY:
            return self._multi_key(pinned, question, digits)
        try:
            value = self._value(question, digits)
        except AnswerError:
            return self._retry(pinned, question, prompts.invalid(lang))
        if isinstance(value, Skipped):
            session.answers.pop(question.id, None)
        else:
            session.answers[question.id] = value
        return self._next(pinned)

    # -- answers ------------------------------------------------------------------------

    def _value(self, question: Question, digits: str) -> Any:
        """Return the answer the keys give, Skipped for # on an optional question."""
        assert self.session is not None
        if question.type == "multi":
            chosen = list(self.session.selected)
            if not chosen and not question.required:
                return Skipped()
            return validate_answer(question, chosen)
        if digits in (FINISH_KEY, ""):
            if question.required:
                raise AnswerError("required", "no key", question=question.id)
            return Skipped()
        return _parse(question, digits)

    def _multi_key(self, pinned: Consultation, question: Question, digits: str) -> Reply:
        session = self.session
        assert session is not None
        choice = _choice_for(question, digits)
        if choice is None:
            return self._retry(pinned, question, prompts.invalid(session.language))
        if choice.id not in session.selected:
            session.selected.append(choice.id)
        # Kept in the file's order, as every channel stores a multi answer.
        order = [c.id for c in question.choices]
        session.selected.sort(key=order.index)
        if question.max_choices and len(session.selected) >= question.max_choices:
            session.answers[question.id] = validate_answer(question, list(session.selected))
            return self._next(pinned)
        session.retries = 0
        self._save()
        reply = Reply(gather=question).say(
            prompts.added(localize(choice.text, session.language), session.language),
            session.language,
        )
        return reply

    def _recorded(self, pinned: Consultation, question: Question) -> Reply:
        """Keep a spoken answer's recording (kept at the hub, never transcribed), then go on."""
        session = self.session
        assert session is not None
        if self.event.recording_sid and self.event.recording_url:
            self.db.execute(
                "INSERT OR IGNORE INTO voice_recordings (submission_id, question_id, recording_sid,"
                " recording_url, duration, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [session.submission_id, question.id, self.event.recording_sid[:64],
                 self.event.recording_url[:500], self.event.recording_duration, self.stamp],
            )  # fmt: skip
            seconds = self.event.recording_duration or 0
            session.answers[question.id] = (
                f"[recorded answer, {seconds} s: {self.event.recording_sid[:64]}]"[
                    : question.max_length
                ]
            )
        return self._next(pinned)

    def _next(self, pinned: Consultation) -> Reply:
        session = self.session
        assert session is not None
        # What hangs on a changed answer goes; `_ask` passes the questions not asked.
        session.answers = pinned.only_asked(session.answers)
        session.position += 1
        session.selected = []
        session.retries = 0
        return self._ask(pinned, Reply())

    def _ask(self, pinned: Consultation, reply: Reply) -> Reply:
        """Say the question at the session's position, passing those its rule does not ask
        and those a phone cannot answer."""
        session = self.session
        assert session is not None
        lang = session.language
        # A rule looks at an earlier question, answered (or passed) already: final.
        asked = {question.id for question in pinned.asked(session.answers)}
        while session.position < len(pinned.questions):
            question = pinned.questions[session.position]
            if question.id in asked and (question.type != "text" or self.config.recordings):
                break
            session.position += 1  # not asked, or a text question without recordings
        self._save()
        if session.position >= len(pinned.questions):
            return self._end(reply.say(prompts.thanks(pinned, lang), lang), finish="complete")
        question = pinned.questions[session.position]
        reply.say(prompts.question(question, lang), lang)
        if question.type == "text":
            reply.record = True
        else:
            reply.gather = question
        return reply

    def _retry(self, pinned: Consultation, question: Question, hint: str) -> Reply:
        session = self.session
        assert session is not None
        session.retries += 1
        if session.retries >= RETRIES:
            if not question.required:
                return self._next(pinned)
            self._save()
            return self._end(
                Reply(hangup=True).say(prompts.give_up(session.language), session.language)
            )
        return self._ask(pinned, Reply().say(hint, session.language))

    def _opt_out(self) -> Reply:
        assert self.caller is not None and self.session is not None
        opt_out_caller(self.db, self.caller.contact_id, self.stamp)
        lang = self.session.language
        log.info("voice.opt_out")
        return self._end(Reply(hangup=True).say(prompts.opted_out(lang), lang), finish="stopped")

    # -- store ----------------------------------------------------------------------------

    def _call_row(self) -> dict[str, Any] | None:
        return store.first_row(
            self.db, "SELECT * FROM voice_calls WHERE call_sid = ?", [self.event.call_sid]
        )

    def _update_call(self, **values: Any) -> None:
        values["updated_at"] = self.stamp
        names = ", ".join(f"{name} = ?" for name in values)
        self.db.execute(
            f"UPDATE voice_calls SET {names} WHERE call_sid = ?",  # noqa: S608 (our own names)
            [*values.values(), self.event.call_sid],
        )
        if self.call is not None:
            self.call.update(values)

    def _end(self, reply: Reply, *, finish: str = "") -> Reply:
        if finish and self.session is not None:
            self._finish(self.session, finish)
        if self.call_known:
            self._update_call(stage="ended")
        reply.hangup = True
        return reply

    def _unavailable(self) -> Reply:
        reply = Reply(hangup=True)
        for lang, text in prompts.unavailable("closed").items():
            reply.say(text, lang)
        if self.call_known:
            self._update_call(stage="ended")
        return reply

    def _menu(self, consultation: Consultation) -> Reply:
        reply = Reply(menu=True)
        for lang in consultation.languages:
            if lang in prompts.LANGUAGE_MENU:
                reply.say(prompts.LANGUAGE_MENU[lang], lang)
        return reply

    def _consultation(self, consultation_id: str) -> Consultation | None:
        """Return the consultation a call answers, if it is open; else None."""
        if not consultation_id:
            opened = consultations.open_now(self.db, self.local)
            return opened[0] if len(opened) == 1 else None
        try:
            consultation = consultations.get(self.db, consultation_id[:100])
        except NotFound:
            return None
        return consultation if self._accepting(consultation) else None

    def _accepting(self, consultation: Consultation) -> bool:
        try:
            current = consultations.get(self.db, consultation.id)
        except NotFound:
            return False
        return consultations.is_accepting(self.db, current, self.local)

    def _pinned(self) -> Consultation:
        assert self.session is not None
        return consultations.get(
            self.db, self.session.consultation_id, self.session.consultation_version
        )

    def _active_session(self) -> Session | None:
        assert self.caller is not None
        session = _load_session(
            self.db, "contact_id = ? AND status = 'active'", [self.caller.contact_id]
        )
        if session and _idle(session, self.config, self.now):
            self._finish(session, "expired")
            return None
        return session

    def _session_of_call(self) -> Session | None:
        return _load_session(self.db, "id = ? AND status = 'active'", [self.call["session_id"]])

    def _start_session(self, consultation: Consultation, lang: str) -> Session:
        assert self.caller is not None
        submission_id = submissions.new_id()
        cursor = self.db.execute(
            "INSERT INTO voice_sessions (contact_id, consultation_id, consultation_version,"
            " language, submission_id, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                self.caller.contact_id,
                consultation.id,
                consultation.version,
                lang,
                submission_id,
                self.stamp,
                self.stamp,
            ],
        )
        return Session(
            cursor.lastrowid, self.caller.contact_id, consultation.id, consultation.version, lang,
            0, {}, [], 0, submission_id, self.stamp, self.stamp,
        )  # fmt: skip

    def _save(self) -> None:
        session = self.session
        assert session is not None
        self.db.execute(
            "UPDATE voice_sessions SET position = ?, answers = ?, selected = ?, retries = ?,"
            " language = ?, updated_at = ? WHERE id = ?",
            [
                session.position,
                json.dumps(session.answers, ensure_ascii=False),
                json.dumps(session.selected),
                session.retries,
                session.language,
                self.stamp,
                session.id,
            ],
        )

    def _finish(self, session: Session, status: str) -> None:
        respondent = (
            self.caller.respondent if self.caller else _respondent(self.db, session.contact_id)
        )
        finish(self.db, session, status, respondent, self.stamp)


# --- parsing keys ------------------------------------------------------------------------


def _parse(question: Question, digits: str) -> Any:
    """Return the typed answer for keys pressed at a choice, yes/no, scale or number question."""
    if question.type == "choice":
        choice = _choice_for(question, digits)
        if choice is None:
            raise AnswerError("choice", "no such choice", question=question.id)
        return validate_answer(question, choice.id)
    if question.type == "yesno":
        if digits not in ("1", "2"):
            raise AnswerError("yesno", "1 or 2", question=question.id)
        return validate_answer(question, digits == "1")
    text = digits.replace("*", ".")  # star is the decimal point inside a number
    if not _KEYED_NUMBER.fullmatch(text):
        raise AnswerError("number", "not a number", question=question.id)
    value: float | int = float(text) if "." in text else int(text)
    return validate_answer(question, value)


def _choice_for(question: Question, digits: str) -> Any:
    if not digits.isdigit():
        return None
    index = int(digits)
    return question.choices[index - 1] if 1 <= index <= len(question.choices) else None


def _answers(question: Question, digits: str) -> bool:
    """Say whether `digits` is a valid answer to the question (9 then is an answer, not STOP)."""
    if question.type == "multi":
        return _choice_for(question, digits) is not None
    try:
        _parse(question, digits)
    except AnswerError:
        return False
    return True


# --- sessions ----------------------------------------------------------------------------

_SESSION_COLUMNS = (
    "id, contact_id, consultation_id, consultation_version, language, position, answers,"
    " selected, retries, submission_id, started_at, updated_at"
)


def _load_session(db: sqlite_utils.Database, where: str, params: list[Any]) -> Session | None:
    row = db.execute(
        f"SELECT {_SESSION_COLUMNS} FROM voice_sessions WHERE {where}",  # noqa: S608 (constants)
        params,
    ).fetchone()
    if row is None:
        return None
    values = list(row)
    values[6] = json.loads(values[6])
    values[7] = json.loads(values[7])
    return Session(*values)


def _idle(session: Session, config: VoiceConfig, now: datetime) -> bool:
    return clock.parse(session.updated_at) < now - timedelta(hours=config.session_hours)


def _respondent(db: sqlite_utils.Database, contact_id: int) -> str:
    row = db.execute("SELECT respondent FROM sms_contacts WHERE id = ?", [contact_id]).fetchone()
    return str(row[0]) if row else ""


def finish(
    db: sqlite_utils.Database, session: Session, status: str, respondent: str, stamp: str
) -> dict[str, Any] | None:
    """End a session, recording its submission (complete only if every required answer is in)."""
    consultation = consultations.get(db, session.consultation_id, session.consultation_version)
    # An answer its rule no longer asks is not kept; a question not asked is not missing.
    answers = consultation.only_asked(session.answers)
    complete = status == "complete" and all(
        q.id in answers for q in consultation.asked(answers) if q.required
    )
    record = None
    if complete or answers:
        try:
            record = submissions.record(
                db,
                consultation,
                channel="voice",
                language=session.language,
                answers=answers,
                started_at=session.started_at,
                submission_id=session.submission_id,
                respondent=respondent,
                complete=complete,
            )
        except AnswersError as error:
            log.error("voice.record_failed", extra={"session": session.id, "error": str(error)})
    db.execute(
        "UPDATE voice_sessions SET status = ?, ended_at = ?, updated_at = ? WHERE id = ?",
        [status, stamp, stamp, session.id],
    )
    log.info(
        "voice.session_ended",
        extra={
            "session": session.id,
            "status": status,
            "answers": len(answers),
            "complete": complete,
        },
    )
    return record


def record_status(
    db: sqlite_utils.Database, call_sid: str, status: str, *, now: datetime | None = None
) -> bool:
    """Keep Twilio's status of a call (a dropped call's session stays open); say if it is known."""
    stamp = clock.to_text(now) if now else clock.utcnow()
    with store.write(db):
        cursor = db.execute(
            "UPDATE voice_calls SET call_status = ?, updated_at = ? WHERE call_sid = ?",
            [status, stamp, call_sid],
        )
    if cursor.rowcount:
        log.info("voice.call_status", extra={"status": status})
    return bool(cursor.rowcount)


def expire_idle(
    db: sqlite_utils.Database, config: VoiceConfig, *, now: datetime | None = None
) -> int:
    """End sessions idle beyond VOICE_SESSION_HOURS, keeping their answers; count them."""
    moment = now or clock.parse(clock.utcnow())
    cutoff = clock.to_text(moment - timedelta(hours=config.session_hours))
    stamp = clock.to_text(moment)
    with store.write(db):
        rows = db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM voice_sessions"  # noqa: S608 (constant)
            " WHERE status = 'active' AND updated_at < ?",
            [cutoff],
        ).fetchall()
        for row in rows:
            session = _load_session(db, "id = ?", [row[0]])
            assert session is not None
            finish(db, session, "expired", _respondent(db, session.contact_id), stamp)
    return len(rows)
