"""What the read API reads: consultations, their codebook, and pages of submissions shaped
exactly as the JSON export shapes them (participate.hub's export records)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from participate import consultations
from participate.consultations import Consultation
from participate.hub import ExportOptions, Filters, codebook_rows, export_records, plan_export

MAX_PAGE = 1000


@dataclass
class Page:
    """Some submission records, and where the next page starts (None at the end)."""

    records: list[dict[str, Any]]
    after: tuple[str, str] | None


def consultation_summary(db: sqlite_utils.Database, consultation: Consultation) -> dict[str, Any]:
    """Return what a reader needs to know of a consultation, and the versions it had."""
    versions = list(
        db.query(
            "SELECT version, loaded_at FROM consultation_versions"
            " WHERE consultation_id = ? ORDER BY loaded_at, version",
            [consultation.id],
        )
    )
    closed = db.execute("SELECT closed FROM consultations WHERE id = ?", [consultation.id])
    return {
        "id": consultation.id,
        "current_version": consultation.version,
        "title": dict(consultation.title),
        "languages": list(consultation.languages),
        "opens": consultation.opens.isoformat() if consultation.opens else None,
        "closes": consultation.closes.isoformat() if consultation.closes else None,
        "closed_by_staff": bool(closed.fetchone()[0]),
        "versions": versions,
    }


def all_consultations(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Return every consultation's summary, by id."""
    return [consultation_summary(db, c) for c in consultations.current_all(db)]


def codebook(db: sqlite_utils.Database, consultation_id: str) -> list[dict[str, Any]]:
    """Return the export's codebook (every version's questions and choices) as mappings."""
    plan = plan_export(db, consultation_id, ExportOptions(Filters(include_hidden=True)))
    header, *rows = codebook_rows(plan)
    return [dict(zip(header, row, strict=True)) for row in rows]


def submissions_page(
    db: sqlite_utils.Database,
    consultation_id: str,
    filters: Filters,
    *,
    limit: int,
    after: tuple[str, str] | None = None,
    offset: int = 0,
) -> Page:
    """Return up to `limit` records past `after` (and `offset` more), in export order."""
    plan = plan_export(db, consultation_id, ExportOptions(filters))
    records = export_records(db, plan, after=after, limit=limit + 1, offset=offset)
    more = len(records) > limit
    records = records[:limit]
    last = records[-1] if more and records else None
    return Page(records, (last["submitted_at"], last["id"]) if last else None)
