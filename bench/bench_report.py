"""Benchmark: the consultation report (PDF) and a cross-tab against the results page's tallies.

Builds a store with N submissions of the example (bench_export's builder), then in the
same run times `results.question_results` (what the results page counts: the baseline),
`crosstab.crosstab` (visits by device) and the whole PDF report (`report.build` in two
languages, then `report_pdf.render`). Targets: a cross-tab within 1x the results page's
tallies, the PDF within 3x (it tallies once per language). Figures go to docs/benchmarks.md.

    python bench/bench_report.py [--rows 200000] [--no-record]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_export import build  # noqa: E402
from bench.harness import machine_info  # noqa: E402
from participate import consultations, store  # noqa: E402
from participate.app import create_app  # noqa: E402
from participate.hub import crosstab, report, report_pdf, results  # noqa: E402

TARGET_CROSSTAB = 1.0
TARGET_PDF = 3.0


def _median(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hub.db"
        build(path, args.rows)
        app = create_app({"DATABASE": str(path), "ROLE": "hub", "SECRET_KEY": "bench"})
        with app.test_request_context("/staff/"), store.open_db(path) as db:
            example = consultations.get(db, "library-hours")
            everything = results.Filters()
            tallies = _median(
                lambda: results.question_results(db, example, everything, "en"), args.runs
            )
            cross = _median(
                lambda: crosstab.crosstab(db, example, everything, "visits", "device", "en"),
                args.runs,
            )
            pdf_bytes: list[bytes] = []

            def pdf() -> None:
                built = report.build(db, example, everything, ("en", "fr"))
                pdf_bytes.append(report_pdf.render(built, "UTC"))

            whole = _median(pdf, args.runs)
    info = machine_info()
    lines = [
        f"Machine: {', '.join(f'{k} {v}' for k, v in info.items())}.",
        "",
        f"`python bench/bench_report.py --rows {args.rows} --runs {args.runs}` (median of"
        f" {args.runs}): the results page's tallies {tallies:.2f} s; a cross-tab (visits by"
        f" device) {cross:.2f} s, {cross / tallies:.2f}x (target <= {TARGET_CROSSTAB}x);"
        f" the PDF report in two languages {whole:.2f} s, {whole / tallies:.2f}x (target <="
        f" {TARGET_PDF}x), {len(pdf_bytes[-1]) // 1024} kB.",
    ]
    print("\n".join(lines))
    if not args.no_record:
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n## Consultation report and cross-tab\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
