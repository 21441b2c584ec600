"""An OData v4 feed per consultation, read the way ODK Central's is (Excel, Power BI).

`/odata/v1/<consultation_id>.svc` is the service document, `$metadata` the EDMX schema
(one property a question, typed), `Submissions` the entity set: `$top`, `$skip`,
`$count`, `$select`, and `$filter` on the submission time, paged by the server with
`@odata.nextLink` (a keyset `$skiptoken`). As in ODK Central, each row has its key in
`__id` and its metadata in the complex property `__system`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode
from xml.sax.saxutils import quoteattr

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from participate import clock, consultations, store
from participate.consultations import Question
from participate.errors import NotFound
from participate.hub import ExportOptions, Filters, plan_export
from participate.submissions import respondent_sql

from . import cursors
from .auth import CHALLENGE, require_token
from .errors import QueryError, Unauthenticated

bp = Blueprint("odata", __name__, url_prefix="/odata/v1")
NAMESPACE = "Participate"
PAGE_SIZE = 1000
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
# What `__system` holds: the OData name, its type, and the record's field.
SYSTEM_FIELDS = (
    ("submissionDate", "Edm.DateTimeOffset", "submitted_at"),
    ("startedAt", "Edm.DateTimeOffset", "started_at"),
    ("receivedAt", "Edm.DateTimeOffset", "received_at"),
    ("consultationVersion", "Edm.String", "consultation_version"),
    ("channel", "Edm.String", "channel"),
    ("deviceId", "Edm.String", "device_id"),
    ("respondent", "Edm.String", "respondent"),
    ("language", "Edm.String", "language"),
    ("complete", "Edm.Boolean", "complete"),
    ("hidden", "Edm.Boolean", "hidden"),
)
# Also in `__system`: the ids of the questions the submission was not asked.
NOT_ASKED_FIELD = ("notAsked", "Edm.String")
_OPTIONS = {"$top", "$skip", "$count", "$filter", "$select", "$skiptoken", "$format", "hidden"}
_UNSUPPORTED = {"$orderby", "$expand", "$search", "$apply", "$compute"}


class ODataError(Exception):
    """A request the feed refuses, answered as OData's error JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@bp.errorhandler(ODataError)
@bp.errorhandler(QueryError)
@bp.errorhandler(Unauthenticated)
@bp.errorhandler(NotFound)
@bp.errorhandler(HTTPException)
def _error(error: Exception) -> Response:
    status = {QueryError: 400, Unauthenticated: 401, NotFound: 404}.get(type(error), 400)
    status = getattr(error, "status", None) or getattr(error, "code", None) or status
    message = getattr(error, "description", None) or str(error)
    response = jsonify(error={"code": str(status), "message": message})
    response.status_code = status
    response.headers["OData-Version"] = "4.0"
    if status == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    return response


@bp.after_request
def _odata_headers(response: Response) -> Response:
    response.headers["OData-Version"] = "4.0"
    response.headers["Cache-Control"] = "no-store"
    return response


# --- naming and typing -------------------------------------------------------------


def property_name(question_id: str) -> str:
    """Return an OData identifier for a question id (letters, digits, _; no leading digit)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", question_id)
    return name if not name[0].isdigit() else "_" + name


def edm_type(question: Question) -> str:
    """Return the EDM type a question's answers take (a multi is its choice ids, spaced)."""
    if question.type == "yesno":
        return "Edm.Boolean"
    if question.type == "scale" or (question.type == "number" and question.integer):
        return "Edm.Int64"
    if question.type == "number":
        return "Edm.Decimal"
    return "Edm.String"


@dataclass(frozen=True)
class Feed:
    """One consultation's entity type: its questions and their property names."""

    consultation_id: str
    questions: tuple[tuple[str, Question], ...]
    # SQL giving the JSON array of the questions a submission was not asked (skip logic).
    not_asked_sql: str = "json_array()"


def feed(consultation_id: str) -> Feed:
    """Return the feed of a consultation: every question any version asked, named."""
    plan = plan_export(store.get_db(), consultation_id, ExportOptions(Filters(include_hidden=True)))
    named: list[tuple[str, Question]] = []
    taken = {"__id", "__system"}
    for question in plan.questions:
        name, n = property_name(question.id), 1
        while name in taken:  # "a-b" and "a_b" would meet
            n += 1
            name = f"{property_name(question.id)}_{n}"
        taken.add(name)
        named.append((name, question))
    return Feed(consultation_id, tuple(named), plan.not_asked_sql)


def metadata_xml(feed: Feed) -> str:
    """Return the EDMX (CSDL XML) describing the feed."""
    system = "\n".join(
        f'        <Property Name="{name}" Type="{kind}"/>'
        for name, kind in [*((name, kind) for name, kind, _ in SYSTEM_FIELDS), NOT_ASKED_FIELD]
    )
    questions = "\n".join(
        f'        <Property Name="{name}" Type="{edm_type(question)}"/>'
        for name, question in feed.questions
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edmx:Edmx xmlns:edmx="{EDMX}" Version="4.0">
  <edmx:DataServices>
    <Schema xmlns="{EDM}" Namespace="{NAMESPACE}">
      <ComplexType Name="SystemMetadata">
{system}
      </ComplexType>
      <EntityType Name="Submission">
        <Key><PropertyRef Name="__id"/></Key>
        <Property Name="__id" Type="Edm.String" Nullable="false"/>
        <Property Name="__system" Type="{NAMESPACE}.SystemMetadata"/>
{questions}
      </EntityType>
      <EntityContainer Name={quoteattr(property_name(feed.consultation_id))}>
        <EntitySet Name="Submissions" EntityType="{NAMESPACE}.Submission"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"""


# SQLite functions take at most 127 arguments: json_object() gets this many pairs at most.
_PAIRS_PER_OBJECT = 60


def _answer_sql(question: Question) -> str:
    """Return SQL giving one answer as its OData value.

    The question id is written into the SQL: a loaded consultation's ids are only letters,
    digits, - and _ (participate.consultations), as are the property names made of them.
    """
    path = f"'$.\"{question.id}\"'"
    if question.type == "multi":  # choice ids, space-separated, as ODK Central gives them
        return f"(SELECT group_concat(j.value, ' ') FROM json_each(s.answers, {path}) j)"  # noqa: S608
    if question.type == "yesno":
        return (
            f"json(CASE json_type(s.answers, {path}) WHEN 'true' THEN 'true'"
            " WHEN 'false' THEN 'false' END)"
        )
    return f"json_extract(s.answers, {path})"


def _system_sql(feed: Feed) -> str:
    pairs = []
    for name, kind, column in SYSTEM_FIELDS:
        value = f"s.{column}"
        if column == "respondent":  # never a phone number, as in the exports
            value = respondent_sql(value)
        if kind == "Edm.Boolean":
            value = f"json(CASE WHEN {value} THEN 'true' ELSE 'false' END)"
        pairs.append(f"'{name}', {value}")
    # The questions its skip rules did not ask, space-separated like a multi's choices:
    # their values are null, as a blank answer's is, and this says which is which.
    # The plan's SQL holds only question ids, which are letters, digits, - and _.
    ids = f"SELECT group_concat(n.value, ' ') FROM json_each({feed.not_asked_sql}) n"  # noqa: S608
    not_asked = f"coalesce(({ids}), '')"
    pairs.append(f"'{NOT_ASKED_FIELD[0]}', {not_asked}")
    return f"json_object({', '.join(pairs)})"


def entity_sql(feed: Feed, select: set[str] | None = None) -> str:
    """Return SQL giving each submission (as `s`) as the feed's JSON entity.

    SQLite writes the JSON itself, so a page of a thousand rows is never decoded and
    re-encoded in Python.
    """
    pairs = ["'__id', s.id"]
    if select is None or "__system" in select:
        pairs.append(f"'__system', {_system_sql(feed)}")
    pairs += [
        f"'{name}', {_answer_sql(question)}"
        for name, question in feed.questions
        if select is None or name in select
    ]
    objects = [
        f"json_object({', '.join(pairs[start : start + _PAIRS_PER_OBJECT])})"
        for start in range(0, len(pairs), _PAIRS_PER_OBJECT)
    ]
    sql = objects[0]
    for more in objects[1:]:
        sql = f"json_patch({sql}, {more})"
    return sql


# --- $filter -----------------------------------------------------------------------

_TIME_FIELDS = ("__system/submissionDate", "submitted_at", "__system/submitted_at")
_OPERATORS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_COMPARISON = re.compile(
    r"^\(?\s*(?P<field>[\w/]+)\s+(?P<op>[a-z]{2})\s+(?P<value>[0-9][0-9T:.+\-Z]*)\s*\)?$"
)
FILTER_HELP = (
    "Only comparisons of the submission time are supported, joined by 'and', such as"
    " __system/submissionDate ge 2026-11-01T00:00:00Z and __system/submissionDate lt 2026-12-01"
)


def parse_filter(text: str) -> tuple[tuple[str, str], ...]:
    """Read a $filter on the submission time into (operator, instant) pairs, or refuse it."""
    parts = re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE)
    comparisons = []
    for part in parts:
        match = _COMPARISON.match(part.strip())
        if not match or match["field"] not in _TIME_FIELDS or match["op"] not in _OPERATORS:
            raise ODataError(
                501 if match else 400, f"Cannot apply $filter={text!r}. {FILTER_HELP}."
            )
        comparisons.append((_OPERATORS[match["op"]], _instant(match["value"])))
    return tuple(comparisons)


def _instant(value: str) -> str:
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("no offset")
        else:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        raise ODataError(
            400, f"{value!r} is not a date-time with an offset, like 2026-11-01T00:00:00Z."
        ) from None
    return clock.to_text(moment)


# --- views -------------------------------------------------------------------------


def _service_root(consultation_id: str) -> str:
    return f"{request.host_url.rstrip('/')}{bp.url_prefix}/{consultation_id}.svc/"


@bp.get("/<consultation_id>.svc")
@bp.get("/<consultation_id>.svc/")
def service_document(consultation_id: str) -> Response:
    """List the feed's one entity set."""
    require_token()
    consultations.get(store.get_db(), consultation_id)
    root = _service_root(consultation_id)
    body = {
        "@odata.context": root + "$metadata",
        "value": [{"name": "Submissions", "kind": "EntitySet", "url": "Submissions"}],
    }
    return _json(body)


@bp.get("/<consultation_id>.svc/$metadata")
def metadata(consultation_id: str) -> Response:
    """Describe the feed's entity type in EDMX."""
    require_token()
    consultations.get(store.get_db(), consultation_id)
    return Response(
        metadata_xml(feed(consultation_id)), content_type="application/xml;charset=utf-8"
    )


@bp.get("/<consultation_id>.svc/Submissions")
def submissions(consultation_id: str) -> Response:
    """Give a page of the consultation's submissions, and the link to the next one."""
    token = require_token()
    args = request.args
    unsupported = sorted(set(args) & _UNSUPPORTED)
    if unsupported:
        raise ODataError(501, f"{', '.join(unsupported)} is not supported by this feed.")
    unknown = sorted(k for k in args if k.startswith("$") and k not in _OPTIONS)
    if unknown:
        raise ODataError(400, f"Unknown query option {', '.join(unknown)}.")
    if args.get("$format", "json") not in ("json", "application/json"):
        raise ODataError(400, "This feed answers in JSON only.")
    include_hidden = args.get("hidden", "") == "1"
    if include_hidden and not token.can("staff"):
        raise ODataError(403, "Hidden submissions need a staff token.")
    the_feed = feed(consultation_id)
    select = _select(the_feed, args.get("$select", ""))
    top, skip = _whole(args, "$top"), _whole(args, "$skip")
    filters = Filters(
        include_hidden=include_hidden,
        submitted=parse_filter(args["$filter"]) if args.get("$filter") else (),
        timezone=current_app.config["TIMEZONE"],
    )
    size = min(top, PAGE_SIZE) if top is not None else PAGE_SIZE
    token_text = args.get("$skiptoken", "")
    after = cursors.decode(token_text) if token_text else None
    db = store.get_db()
    plan = plan_export(db, consultation_id, ExportOptions(filters))
    sql, params = plan.select_query(
        "s.submitted_at, s.id, " + entity_sql(the_feed, select),
        after=after,
        limit=size + 1,
        offset=skip or 0,
    )
    rows = db.execute(sql, params).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    head: dict[str, Any] = {
        "@odata.context": _service_root(consultation_id) + "$metadata#Submissions"
    }
    if args.get("$count", "").lower() == "true":
        head["@odata.count"] = plan.count(db)
    tail = ""
    remaining = None if top is None else top - len(rows)
    if more and rows and (remaining is None or remaining > 0):
        last = rows[-1]
        tail = ', "@odata.nextLink": ' + json.dumps(
            _next_link(consultation_id, (last[0], last[1]), remaining)
        )
    # The entities are JSON already (entity_sql): spliced in, not decoded and re-encoded.
    body = json.dumps(head)[:-1] + ', "value": [' + ", ".join(row[2] for row in rows) + "]"
    return _json_text(body + tail + "}")


def _next_link(consultation_id: str, after: tuple[str, str], remaining: int | None) -> str:
    """Return the link to the next page: the same query, $skip spent, a keyset $skiptoken."""
    query = {k: v for k, v in request.args.items() if k not in ("$skip", "$skiptoken", "$top")}
    if remaining is not None:
        query["$top"] = str(remaining)
    query["$skiptoken"] = cursors.encode(*after)
    link = urlencode(query, safe="$/:,", quote_via=quote)
    return _service_root(consultation_id) + "Submissions?" + link


def _whole(args: Any, name: str) -> int | None:
    value = args.get(name, "")
    if value == "":
        return None
    if not value.isdigit() or len(value) > 12:
        raise ODataError(400, f"{name} must be a whole number, got {value!r}.")
    return int(value)


def _select(the_feed: Feed, text: str) -> set[str] | None:
    if not text.strip() or text.strip() == "*":
        return None
    names = {name.strip() for name in text.split(",")}
    known = {"__id", "__system"} | {name for name, _ in the_feed.questions}
    unknown = sorted(names - known)
    if unknown:
        raise ODataError(400, f"$select names unknown properties: {', '.join(unknown)}.")
    return names | {"__id"}


def _json(body: dict[str, Any]) -> Response:
    return _json_text(json.dumps(body))


def _json_text(text: str) -> Response:
    return Response(text, content_type=JSON_TYPE)
