"""The consultation report as a PDF, drawn on the hub with fpdf2 (no browser, no network).

Charts are vector rectangles in greys; text is set in DejaVu Sans, shipped in
static/fonts with its licence, so accents, « », and most symbols print; emoji fall back
to Noto Color Emoji when the system has it (Debian's fonts-noto-color-emoji).
"""

from __future__ import annotations

from pathlib import Path

from flask_babel import force_locale, format_decimal, format_percent
from flask_babel import gettext as _
from fpdf import FPDF

from participate import clock, resources

from .report import QuestionReport, Report, base_text

EMOJI_FONTS = (Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),)
MARGIN = 18  # mm
LABEL_WIDTH = 62  # mm, a bar's label column
BAR_ROOM = 80  # mm, the longest bar
ROW = 7  # mm, one bar's row
GREYS = ((85, 85, 85), (150, 150, 150))  # bars; the second language's text


class _Document(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", size=8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self.footer_text, align="L")
        self.cell(0, 5, f"{self.page_no()} / {{nb}}", align="R")
        self.set_text_color(0, 0, 0)


def _document(title: str) -> _Document:
    fonts = resources.resource_dir("static") / "fonts"
    pdf = _Document(format="A4", unit="mm")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    fallbacks = []
    for path in EMOJI_FONTS:
        if path.exists():
            pdf.add_font("Emoji", "", str(path))
            fallbacks.append("Emoji")
    pdf.set_fallback_fonts(fallbacks)
    pdf.set_title(title)
    pdf.set_creator("Participate")
    return pdf


def _heading(pdf: FPDF, texts: list[str], size: float) -> None:
    for index, text in enumerate(texts):
        pdf.set_font("DejaVu", "B" if index == 0 else "", size if index == 0 else size - 2)
        if index:
            pdf.set_text_color(70, 70, 70)
        pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)


def _table(pdf: FPDF, caption: str, rows: list[tuple[str, int]]) -> None:
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(0, 6, caption, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for name, count in rows or [(_("None yet."), 0)]:
        pdf.cell(100, 5.5, name)
        pdf.cell(25, 5.5, str(count), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _bars(pdf: FPDF, question: QuestionReport, languages: tuple[str, ...]) -> None:
    rows = question.rows[languages[0]]
    top = max((count for _, count, _ in rows), default=0) or 1
    needed = ROW * len(rows) + 4
    if pdf.will_page_break(needed):
        pdf.add_page()
    pdf.set_font("DejaVu", "", 9)
    y = pdf.get_y()
    for index, (_label, count, share) in enumerate(rows):
        top_y = y + index * ROW
        names = " / ".join(question.rows[lang][index][0] for lang in languages)
        pdf.set_xy(MARGIN, top_y)
        pdf.cell(LABEL_WIDTH, ROW - 1, _fit(pdf, names, LABEL_WIDTH - 2), align="R")
        width = BAR_ROOM * count / top
        pdf.set_fill_color(*GREYS[0])
        if width:
            pdf.rect(MARGIN + LABEL_WIDTH + 1, top_y + 1, width, ROW - 2.5, style="F")
        pdf.set_xy(MARGIN + LABEL_WIDTH + 2 + width, top_y)
        pdf.cell(30, ROW - 1, f"{count} ({format_percent(share)})")
    pdf.set_draw_color(120, 120, 120)
    pdf.line(MARGIN + LABEL_WIDTH + 1, y, MARGIN + LABEL_WIDTH + 1, y + ROW * len(rows))
    pdf.set_xy(MARGIN, y + ROW * len(rows) + 3)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Cut a label to fit its column (the bar's value says the rest)."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _question(pdf: FPDF, question: QuestionReport, languages: tuple[str, ...]) -> None:
    # A question starts a page unless it fits in what is left of this one.
    lines = len(question.rows[languages[0]]) or max(len(question.quotes), 1) * 2
    if pdf.will_page_break(30 + ROW * lines):
        pdf.add_page()
    pdf.ln(4)
    pdf.set_draw_color(180, 180, 180)
    pdf.line(MARGIN, pdf.get_y(), pdf.w - MARGIN, pdf.get_y())
    pdf.ln(3)
    texts = [question.text[lang] for lang in languages]
    texts[0] = f"{question.number}. {texts[0]}"
    _heading(pdf, texts, 13)
    pdf.set_font("DejaVu", "", 10)
    base = base_text(question)
    if question.mean is not None:
        base += " · " + _labelled(_("Mean"), format_decimal(question.mean, "#,##0.00"))
    pdf.set_text_color(60, 60, 60)
    pdf.multi_cell(0, 5.5, base, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)
    if question.kind == "text":
        if not question.quotes:
            pdf.set_font("DejaVu", "", 10)
            pdf.multi_cell(0, 5, _("No answer chosen to quote."), new_x="LMARGIN", new_y="NEXT")
        for item in question.quotes:
            pdf.set_fill_color(225, 225, 225)
            y = pdf.get_y()
            pdf.set_x(MARGIN + 4)
            pdf.set_font("DejaVu", "", 11)
            pdf.multi_cell(
                0, 5.5, quoted(item["text"], item["language"]), new_x="LMARGIN", new_y="NEXT"
            )
            pdf.rect(MARGIN, y, 1.2, pdf.get_y() - y, style="F")
            pdf.ln(2)
    elif question.rows[languages[0]]:
        _bars(pdf, question, languages)
    else:
        pdf.cell(0, 6, _("No answers yet."), new_x="LMARGIN", new_y="NEXT")


def _labelled(label: str, value: str) -> str:
    """Return "Label: value" with the interface language's colon ("Libellé : valeur")."""
    return _("%(label)s: %(value)s", label=label, value=value)


def quoted(text: str, language: str) -> str:
    """Put a quoted answer in its own language's quotation marks (« » in French)."""
    if language.startswith("fr"):
        return f"«\u00a0{text}\u00a0»"
    return f"“{text}”"


def render(report: Report, timezone: str) -> bytes:
    """Return the report as PDF bytes, in the report's languages (the first leads)."""
    first = report.languages[0]
    with force_locale(first):
        pdf = _document(report.title(first))
        pdf.footer_text = _(
            "%(title)s · made %(when)s (%(tz)s)",
            title=report.title(first),
            when=clock.parse(clock.utcnow()).strftime("%Y-%m-%d"),
            tz=timezone,
        )
        pdf.add_page()
        _heading(pdf, [report.title(lang) for lang in report.languages], 20)
        pdf.ln(2)
        pdf.set_font("DejaVu", "", 11)
        start, end = report.period
        pdf.cell(
            0,
            6,
            _labelled(_("Period"), f"{start or '—'} – {end or '—'} ({timezone})"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        args = report.filters.to_args()
        if args:
            shown = ", ".join(f"{k} = {v}" for k, v in args.items())
            pdf.multi_cell(0, 6, _labelled(_("Filters"), shown), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        _heading(pdf, [_("Participation")], 14)
        summary = report.summary
        pdf.set_font("DejaVu", "", 11)
        for label, value in (
            (_("Responses"), summary.total),
            (_("Complete"), summary.complete),
            (_("Incomplete"), summary.incomplete),
            (_("Hidden by moderation"), summary.hidden),
        ):
            pdf.cell(60, 6, label)
            pdf.cell(20, 6, str(value), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        _table(pdf, _("By channel"), report.by_channel[first])
        _table(pdf, _("By language"), report.by_language[first])
        _table(pdf, _("By device"), report.by_device)
        for question in report.questions:
            _question(pdf, question, report.languages)
        try:
            return bytes(pdf.output())
        finally:
            _close_fonts(pdf)


def _close_fonts(pdf: FPDF) -> None:
    # fontTools reads font files lazily and keeps them open until told.
    for font in pdf.fonts.values():
        ttfont = getattr(font, "ttfont", None)
        if ttfont is not None:
            ttfont.close()
