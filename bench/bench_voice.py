"""Benchmark voice: read-aloud rendering, and the phone call webhook under load.

1. Rendering: the example consultation's 32 read-aloud files (8 texts, 2 languages, 2
   speeds) through `speech.render` (espeak-ng then opusenc), against espeak-ng alone
   writing the same WAV files (the baseline). Reports the ratio, the files' size, and
   their size against the WAV.
2. Webhook: `participate hub` on waitress (8 threads) with a Twilio auth token; wrk
   cycles through precomputed, SDK-signed `POST /voice/twilio` requests: many calls
   going through the example one step at a time (start, language, every question's
   keys), each call on its own CallSid and step. In the same run it measures `GET
   /healthz`. Targets, as for SMS: at least 0.5 of /healthz's requests/s and a p99 under
   50 ms with 8 concurrent connections.

    python bench/bench_voice.py [--duration 10] [--runs 2] [--calls 400] [--no-append]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.bench_sms import LUA as SMS_LUA  # noqa: E402
from bench.harness import (  # noqa: E402
    append_results,
    compare,
    free_port,
    print_table,
    run_wrk,
    start_server,
)
from participate import consultations, speech, store  # noqa: E402

EXAMPLE = ROOT / "examples" / "library-hours.yaml"
TOKEN = "bench-auth-token-0123456789abcdef"
PEPPER = "bench-pepper-0123456789abcdef"
PUBLIC_URL = "https://voice.bench.example.org"
WRK_THREADS = 2
CONNECTIONS = 8
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
# The keys of one call, step by step: the call starts (no key), English, then each
# question (visits, times one key at a time then #, evenings, rating, hours); the text
# question is skipped on the phone, so the last step hears the thanks.
STEPS = [None, "1", "2", "1", "3", "#", "1", "4", "12"]
LUA = SMS_LUA.replace('"/sms/twilio"', '"/voice/twilio"')


def phone(number: int) -> str:
    """Return the bench's n-th phone number, in E.164."""
    return f"+1555{number:07d}"


def example() -> consultations.Consultation:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.pop("opens", None)
    return consultations.parse(data, "bench")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_render(folder: Path) -> dict[str, float]:
    """Render the example's audio, then make the same WAVs with espeak-ng alone; time both."""
    consultation = example()
    jobs = [
        (item.text, language, speed)
        for language in consultation.languages
        for item in speech.items(consultation, language)
        for speed in speech.SPEEDS
    ]
    # CPU seconds of the child processes: the machine is shared, wall time varies with load.
    started = _children_cpu()
    files = [speech.render(folder / "ogg", *job) for job in jobs]
    rendered = _children_cpu() - started
    wav_dir = folder / "wav"
    wav_dir.mkdir()
    started = _children_cpu()
    for number, (text, language, speed) in enumerate(jobs):
        voice = ["-v", speech.voice_for(language), "-s", str(speech.SPEEDS[speed])]
        wav = wav_dir / f"{number}.wav"
        subprocess.run(
            ["espeak-ng", *voice, "-w", str(wav), "--stdin"], input=text.encode(), check=True
        )
    baseline = _children_cpu() - started
    ogg_bytes = sum(path.stat().st_size for path in files)
    wav_bytes = sum(path.stat().st_size for path in wav_dir.glob("*.wav"))
    # espeak-ng writes 16-bit mono at 22,050 Hz: the WAVs' length gives the seconds of speech.
    seconds = (wav_bytes - 44 * len(jobs)) / (2 * 22050)
    return {
        "files": len(files),
        "render_s": rendered,
        "espeak_s": baseline,
        "ratio": rendered / baseline,
        "ogg_kb": ogg_bytes / 1024,
        "wav_kb": wav_bytes / 1024,
        "speech_s": seconds,
        "bytes_per_s": ogg_bytes / seconds,
    }


def write_requests(path: Path, calls: int, start: int, count: int) -> None:
    """Write `count` signed call requests from global index `start`, calls interleaved."""
    validator = RequestValidator(TOKEN)
    with path.open("w", encoding="utf-8") as out:
        for index in range(start, start + count):
            number, round_ = index % calls, index // calls
            generation, step = divmod(round_, len(STEPS))
            url = PUBLIC_URL + "/voice/twilio" + (f"?step={step}" if step else "")
            params = {
                "CallSid": f"CA{generation:06d}{number:026d}",
                "AccountSid": "AC" + "0" * 32,
                "From": phone(number),
                "To": "+15555550100",
                "CallStatus": "in-progress",
            }
            if STEPS[step] is not None:
                params["Digits"] = STEPS[step]
            signature = validator.compute_signature(url, params)
            query = url.removeprefix(PUBLIC_URL)
            out.write(f"{signature}\t{urlencode(params)}\t{query}\n")


# Each line carries its own path (the step is in the query string, signed with it).
PER_LINE_PATH = LUA.replace(
    'local signature, body = line:match("^([^\\t]*)\\t(.*)$")',
    'local signature, body, target = line:match("^([^\\t]*)\\t([^\\t]*)\\t(.*)$")',
).replace('wrk.format("POST", "/voice/twilio",', 'wrk.format("POST", target,')


def steps_done(db_path: Path) -> int:
    with store.open_db(db_path) as db:
        return db.execute("SELECT count(*) FROM voice_steps").fetchone()[0]


def main() -> int:
    """Run both benchmarks, print the figures and append them to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--calls", type=int, default=400, help="Calls in progress at once.")
    parser.add_argument("--requests", type=int, default=40_000, help="Requests per run.")
    parser.add_argument("--runs", type=int, default=2, help="Pairs of wrk runs to make.")
    parser.add_argument("--no-append", action="store_true", help="Do not write the docs.")
    args = parser.parse_args()
    if args.calls % WRK_THREADS:
        parser.error(f"--calls must be a multiple of {WRK_THREADS}")
    if "body, target" not in PER_LINE_PATH or "target, {" not in PER_LINE_PATH:
        parser.error("the SMS benchmark's Lua changed: update PER_LINE_PATH")

    with tempfile.TemporaryDirectory() as tmp:
        render = bench_render(Path(tmp))
        db_path = Path(tmp) / "hub.db"
        with store.open_db(db_path, migrate=True) as db:
            consultations.save(db, [example()])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "PARTICIPATE_TWILIO_AUTH_TOKEN": TOKEN,
            "PARTICIPATE_PHONE_PEPPER": PEPPER,
            "PARTICIPATE_PUBLIC_URL": PUBLIC_URL,
        }
        command = [sys.executable, "-m", "participate", "hub", "--db", str(db_path)]
        command += ["--port", str(port)]
        rows, ratios, p99s = [], [], []
        with start_server(command, base + "/healthz", env={**os.environ, **env}):
            for run in range(1, args.runs + 1):
                done = steps_done(db_path)
                requests_file = Path(tmp) / f"requests-{run}.txt"
                write_requests(requests_file, args.calls, done - done % args.calls, args.requests)
                lua = PER_LINE_PATH % {"file": f'"{requests_file}"', "threads": WRK_THREADS}
                suffix = f" (run {run})" if args.runs > 1 else ""
                options = {"connections": CONNECTIONS, "threads": WRK_THREADS}
                health = run_wrk(
                    base + "/healthz",
                    duration=args.duration,
                    name="GET /healthz" + suffix,
                    **options,
                )
                calls = run_wrk(
                    base + "/voice/twilio",
                    duration=args.duration,
                    lua_body=lua,
                    name="POST /voice/twilio (signed, one step of a call)" + suffix,
                    **options,
                )
                rows += [health, calls]
                ratios.append(compare(health, calls)[0])
                p99s.append(calls.get("p99_ms", float("inf")))
        with store.open_db(db_path) as db:
            completed = db.execute(
                "SELECT count(*) FROM submissions WHERE channel = 'voice' AND complete"
            ).fetchone()[0]

    print_table(rows)
    ratio, p99 = statistics.median(ratios), statistics.median(p99s)
    errors = sum(row["non_2xx"] + row["socket_errors"] for row in rows)
    ok = ratio >= TARGET_RATIO and p99 < TARGET_P99_MS and errors == 0
    verdict = (
        f"Median of {args.runs} run(s): {ratio:.2f} of /healthz's requests/s (target >="
        f" {TARGET_RATIO}), p99 {p99:.1f} ms (target < {TARGET_P99_MS:g} ms): "
        f"{'met' if ok else 'NOT met'}; {errors} errors. {completed} calls completed."
    )
    rendering = (
        f"Rendering the example's {render['files']} read-aloud files took"
        f" {render['render_s']:.2f} CPU seconds, {render['ratio']:.2f}x espeak-ng alone writing the"
        f" same WAVs ({render['espeak_s']:.2f} s); {render['ogg_kb']:.0f} kB of Ogg Opus for"
        f" {render['speech_s']:.0f} s of speech ({render['bytes_per_s'] / 1024:.1f} kB a"
        f" second), against {render['wav_kb']:.0f} kB of WAV"
        f" ({render['wav_kb'] / render['ogg_kb']:.0f}x smaller)."
    )
    print(verdict)
    print(rendering)
    if not args.no_append:
        notes = (
            f"`python bench/bench_voice.py --duration {args.duration} --runs {args.runs}`:"
            f" `participate hub` (waitress, 8 threads) with a Twilio auth token; {args.calls}"
            " calls in progress, interleaved; wrk cycles through precomputed SDK-signed"
            " requests, each one step of a call (its own CallSid and step), through the"
            f" example ({CONNECTIONS} connections, {WRK_THREADS} threads, {args.duration} s"
            f" per run). {verdict} {rendering}"
        )
        append_results(ROOT / "docs" / "benchmarks.md", "Voice", rows, notes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
