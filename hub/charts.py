"""Geometry of the server-rendered SVG charts (the templates draw them; no script, no CDN).

Each chart has a data table beside it in the page; the SVG itself carries a title and
is marked as an image, so a screen reader announces it once and reads the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import format_percent

from .results import Bar, QuestionResult

WIDTH = 600
ROW = 34  # height of one horizontal bar's row
LABEL_WIDTH = 200
VALUE_WIDTH = 90
COLUMN_HEIGHT = 180
MAX_SLOT = 60  # widest slot of a column chart


@dataclass
class HBar:
    y: float
    width: float
    label: str
    value: str


@dataclass
class Column:
    x: float
    y: float
    width: float
    height: float
    label: str
    count: int


def shorten(text: str, limit: int = 26) -> str:
    """Cut a label to fit beside its bar (the table beside the chart has it whole)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def horizontal(bars: Sequence[Bar]) -> tuple[list[HBar], int]:
    """Lay out horizontal bars (one per choice) and return them with the chart's height."""
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    top = max((bar.count for bar in bars), default=0) or 1
    laid = [
        HBar(
            y=index * ROW,
            width=round(room * bar.count / top, 1),
            label=shorten(bar.label),
            value=f"{bar.count} ({format_percent(bar.share)})",
        )
        for index, bar in enumerate(bars)
    ]
    return laid, max(ROW, len(bars) * ROW)


def horizontal_rows(rows: Sequence[tuple[str, int, float]]) -> tuple[list[HBar], int]:
    """Lay out a report's (label, count, share) rows as horizontal bars."""
    return horizontal([Bar(label, label, count, share) for label, count, share in rows])


def columns(counts: Sequence[tuple[str, int]], height: int = COLUMN_HEIGHT) -> list[Column]:
    """Lay out vertical columns (a histogram, or responses a day) across the chart's width."""
    if not counts:
        return []
    top = max(count for _, count in counts) or 1
    # A lone day (or a few) is a column of a readable width, not one block the chart's width.
    slot = min(WIDTH / len(counts), MAX_SLOT)
    gap = min(4.0, slot * 0.2)
    result = []
    for index, (label, count) in enumerate(counts):
        bar_height = round(height * count / top, 1)
        result.append(
            Column(
                x=round(index * slot + gap / 2, 1),
                y=round(height - bar_height, 1),
                width=round(max(slot - gap, 1.0), 1),
                height=bar_height,
                label=label,
                count=count,
            )
        )
    return result


def for_question(result: QuestionResult, text_search: Mapping[str, str]) -> dict[str, Any]:
    """Return what the results page draws for one question: its chart, or its search box."""
    if result.kind == "bars":
        laid, height = horizontal(result.bars)
        return {"result": result, "bars": laid, "height": height}
    if result.kind == "histogram":
        return {"result": result, "columns": columns([(b.label, b.count) for b in result.bars])}
    return {"result": result, "search": text_search.get(result.question.id, "")}
