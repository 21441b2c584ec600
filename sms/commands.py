"""The channel's commands: `participate invite` (invitations and reminders to numbers that
agreed to be contacted), `participate erase` and `participate subject` (a texter's
erasure and access requests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import click
import flask
import sqlite_utils

from participate import consultations, store
from participate import settings as participate_settings
from participate.command_options import db_option, friendly_errors
from participate.consultations import Consultation
from participate.errors import ParticipateError

from . import config as sms_config
from . import outbound, phones, prompts
from .config import SmsConfig
from .errors import InvalidNumber
from .people import SmsPeople


@dataclass
class InviteReport:
    """What `participate invite` queued and skipped."""

    queued: int = 0
    opted_out: int = 0
    already: int = 0
    invalid: list[str] = field(default_factory=list)


def read_numbers(path: Path) -> list[tuple[int, str]]:
    """Return (line number, text) for each number in a file: one a line, # comments allowed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParticipateError(f"cannot read {path}: {exc}") from None
    numbers = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip().strip(",;")
        if line:
            numbers.append((number, line))
    return numbers


def _keyword(consultation: Consultation, lang: str) -> str:
    keyword = prompts.keyword(consultation, lang)
    if keyword is None:
        raise ParticipateError(f"consultation {consultation.id!r} has no SMS keyword")
    return keyword


def invite_numbers(
    db: sqlite_utils.Database,
    config: SmsConfig,
    consultation: Consultation,
    numbers: list[tuple[int, str]],
    *,
    lang: str,
    kind: str = "invitation",
) -> InviteReport:
    """Queue one invitation (or reminder) per number, skipping opt-outs and repeats."""
    report = InviteReport()
    keyword = _keyword(consultation, lang)
    make = prompts.invitation if kind == "invitation" else prompts.reminder
    body = make(consultation, keyword, lang)
    seen: set[str] = set()
    for line, raw in numbers:
        try:
            phone = phones.to_e164(raw, config.default_region, strict=True)
        except InvalidNumber:
            report.invalid.append(f"line {line}: {raw[:40]}")
            continue
        respondent = phones.pseudonym(phone, config.pepper)
        if phone in seen or _already(db, phone, respondent, consultation.id, kind):
            report.already += 1
            continue
        seen.add(phone)
        if outbound.enqueue(db, config, phone, body, kind=kind, consultation_id=consultation.id):
            report.queued += 1
        else:
            report.opted_out += 1
    return report


def _already(
    db: sqlite_utils.Database, phone: str, respondent: str, consultation_id: str, kind: str
) -> bool:
    # Never to a number that has answered: found by its pseudonym, since the retention
    # job forgets a number once its conversation is over.
    answered = db.execute(
        "SELECT 1 FROM submissions WHERE respondent = ? AND consultation_id = ? AND complete = 1",
        [respondent, consultation_id],
    ).fetchone()
    if answered:
        return True
    # And each kind once to each number.
    row = db.execute(
        "SELECT 1 FROM sms_outbound o JOIN sms_contacts c ON c.id = o.contact_id"
        " WHERE c.phone = ? AND o.consultation_id = ? AND o.kind = ?"
        " AND o.status NOT IN ('failed', 'cancelled')",
        [phone, consultation_id, kind],
    ).fetchone()
    return row is not None


@click.command()
@db_option()
@click.option("--consultation", "consultation_id", required=True, help="Consultation id.")
@click.option(
    "--numbers",
    "numbers_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File of phone numbers that agreed to be contacted, one a line (# comments).",
)
@click.option("--language", "lang", default=None, help="Language of the message [its first].")
@click.option(
    "--reminder",
    is_flag=True,
    help="Send a reminder instead, only to numbers that have not answered.",
)
def invite(
    db_path: Path, consultation_id: str, numbers_file: Path, lang: str | None, reminder: bool
) -> None:
    """Queue SMS invitations to a consultation for the numbers in a file.

    Only list numbers that agreed to be contacted. Numbers that opted out (STOP) and
    numbers already invited are skipped. The running hub or node sends the queue at
    the configured rate, outside quiet hours.
    """
    try:
        config = flask.Config(str(Path.cwd()))
        participate_settings.load(config, {"DATABASE": str(db_path)})
        settings = sms_config.from_app_config(config)
        numbers = read_numbers(numbers_file)
        with store.open_db(db_path, migrate=True) as db:
            consultation = consultations.get(db, consultation_id)
            language = consultation.language(lang)
            if lang and lang != language:
                raise ParticipateError(
                    f"consultation {consultation_id!r} has no language {lang!r}"
                    f" (it has {', '.join(consultation.languages)})"
                )
            report = invite_numbers(
                db,
                settings,
                consultation,
                numbers,
                lang=language,
                kind="reminder" if reminder else "invitation",
            )
    except ParticipateError as exc:
        raise click.ClickException(str(exc)) from exc
    noun = "reminders" if reminder else "invitations"
    click.echo(f"{report.queued} {noun} queued for {consultation_id} ({language}).")
    if report.already:
        click.echo(f"{report.already} skipped: already sent or answered.")
    if report.opted_out:
        click.echo(f"{report.opted_out} skipped: the number opted out.")
    for line in report.invalid:
        click.echo(f"Skipped, not a valid phone number: {line}", err=True)


PHONE_OPTION = click.option(
    "--phone", "number", required=True, help="The number the person texted from."
)


def _people(db_path: Path) -> SmsPeople:
    config = flask.Config(str(Path.cwd()))
    participate_settings.load(config, {"DATABASE": str(db_path)})
    store.open_db(db_path, migrate=True).close()
    return SmsPeople(sms_config.from_app_config(config))


@click.command()
@db_option()
@PHONE_OPTION
@friendly_errors
def erase(db_path: Path, number: str) -> None:
    """Erase everything held about a phone number (an erasure request).

    Removes the person's submissions and the number with its conversations and queued
    messages from this store; at a hub, every node is told at its next sync. If the
    number had opted out (STOP), its pseudonym stays in the opt-out list so the STOP
    still holds. Kiosk answers are anonymous and cannot be found by a number.
    """
    people = _people(db_path)
    with store.open_db(db_path) as db:
        done = people.erase(db, number)
    phone = people.number(number)
    if not done.known:
        click.echo(f"Nothing is held about {phone}: it never texted this store. Nothing changed.")
        return
    counts = done.counts
    click.echo(
        f"Erased {phone}: {counts.get('submissions', 0)} submission(s),"
        f" {counts.get('conversations', 0)} conversation(s),"
        f" {counts.get('messages_queued', 0)} queued message(s)."
    )
    click.echo("Nodes are told at their next sync. An opt-out (STOP) is kept, by pseudonym only.")


@click.command()
@db_option()
@PHONE_OPTION
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the JSON report ('-' for standard output).",
)
@friendly_errors
def subject(db_path: Path, number: str, output: Path) -> None:
    """Write everything held about a phone number as JSON (an access request).

    Submissions, conversation state, opt-out state and queued messages, for the
    organisation to hand to the person once it has checked who is asking.
    """
    people = _people(db_path)
    with store.open_db(db_path) as db:
        report = people.subject(db, number)
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    output.chmod(0o600)
    click.echo(
        f"Wrote {output}: {len(report['submissions'])} submission(s),"
        f" {len(report['messages_queued'])} queued message(s),"
        f" opted out: {'yes' if report['opted_out'] else 'no'}."
    )
