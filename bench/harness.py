"""Run wrk against a local server and record the figures in docs/benchmarks.md.

Every run targets 127.0.0.1 and lasts a bounded number of seconds; CI never runs these.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOCAL_HOSTS = ("127.0.0.1", "localhost")
MAX_DURATION = 300
UNITS_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
COLUMNS = ("name", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx", "errors")


class BenchError(RuntimeError):
    """A benchmark could not run: wrk is missing, the server did not start, or wrk failed."""


def find_wrk() -> str:
    """Return the path of wrk, installing the Debian package first when running as root."""
    path = shutil.which("wrk")
    if path:
        return path
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "wrk"],
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        path = shutil.which("wrk")
        if path:
            return path
    raise BenchError("wrk is not installed: run `apt-get install wrk` (as root) and try again")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_local(url: str) -> None:
    """Refuse any URL that does not point at this machine's loopback interface."""
    host = urlsplit(url).hostname
    if host not in LOCAL_HOSTS:
        raise BenchError(f"benchmarks only target 127.0.0.1, not {host!r} ({url})")


def wait_until_ready(
    url: str, timeout: float = 30, process: subprocess.Popen | None = None
) -> None:
    """Poll the URL until it answers 200, failing early if the server process exits."""
    check_local(url)
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BenchError(f"server exited with code {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"status {response.status}"
        except urllib.error.HTTPError as error:
            last_error = f"status {error.code}"
        except OSError as error:
            last_error = str(error)
        time.sleep(0.1)
    raise BenchError(f"{url} did not answer 200 within {timeout:g}s ({last_error})")


@contextlib.contextmanager
def start_server(
    command: Sequence[str],
    url_to_poll: str,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 30,
    cwd: str | Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Start a server subprocess, wait until the URL answers 200, and terminate it afterwards."""
    check_local(url_to_poll)
    # The server's output goes to a file, so a chatty server never blocks on a full pipe.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            list(command),
            env={**os.environ, **env} if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_until_ready(url_to_poll, timeout, process)
            except BenchError as error:
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise BenchError(f"{error}\n--- server output ---\n{output}") from None
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def to_ms(value: str, unit: str) -> float:
    """Convert one of wrk's durations (e.g. 1.50, "ms") to milliseconds."""
    return float(value) * UNITS_TO_MS[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """Parse the text wrk prints with --latency into requests/s, percentiles and error counts."""
    result: dict[str, Any] = {"non_2xx": 0, "socket_errors": 0, "timeouts": 0}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result["requests_per_s"] = float(match[1])
    else:
        raise BenchError(f"could not read requests/s from wrk output:\n{output}")
    if match := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output):
        result["requests"] = int(match[1])
        result["duration_s"] = to_ms(match[2], match[3]) / 1000
    for percent in (50, 75, 90, 99):
        if match := re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M):
            result[f"p{percent}_ms"] = to_ms(match[1], match[2])
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        result["non_2xx"] = int(match[1])
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        connect, read, write, timeout = (int(group) for group in match.groups())
        result["socket_errors"] = connect + read + write + timeout
        result["timeouts"] = timeout
    return result


def run_wrk(
    url: str,
    *,
    connections: int = 8,
    threads: int = 2,
    duration: int = 10,
    script: str | Path | None = None,
    lua_body: str | None = None,
    timeout_s: int = 5,
    name: str | None = None,
) -> dict[str, Any]:
    """Run wrk with --latency against a local URL and return its figures as a dict.

    `script` is a path to a wrk Lua file; `lua_body` is Lua source written to a temporary
    file (set wrk.method, wrk.body and wrk.headers, or define `request()` to vary each
    request). Latencies are in milliseconds; "non-2xx" counts what wrk calls "Non-2xx or
    3xx responses".
    """
    check_local(url)
    if not 0 < duration <= MAX_DURATION:
        raise BenchError(f"duration must be between 1 and {MAX_DURATION} seconds")
    if script is not None and lua_body is not None:
        raise BenchError("pass either script or lua_body, not both")
    command = [
        find_wrk(),
        f"--connections={connections}",
        f"--threads={min(threads, connections)}",
        f"--duration={duration}s",
        f"--timeout={timeout_s}s",
        "--latency",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        if lua_body is not None:
            script = Path(tmp) / "bench.lua"
            script.write_text(lua_body)
        if script is not None:
            command.append(f"--script={script}")
        command.append(url)
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 60, check=False
        )
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}):\n{completed.stderr}")
    result = parse_wrk(completed.stdout)
    result.update(name=name or url, url=url, connections=connections, threads=threads)
    result["output"] = completed.stdout
    return result


def compare(baseline: Mapping[str, Any], target: Mapping[str, Any]) -> tuple[float, str]:
    """Return target's requests/s as a ratio of the baseline's, and a table of both."""
    ratio = target["requests_per_s"] / baseline["requests_per_s"]
    table = format_table([baseline, target])
    return ratio, f"{table}\n{target.get('name', 'target')}: {ratio:.2f}x of baseline requests/s"


def row_cells(row: Mapping[str, Any]) -> list[str]:
    """Format one result dict as the table's cells."""

    def ms(key: str) -> str:
        return f"{row[key]:.2f}" if key in row else "-"

    return [
        str(row.get("name", row.get("url", ""))),
        f"{row['requests_per_s']:.0f}",
        ms("p50_ms"),
        ms("p90_ms"),
        ms("p99_ms"),
        str(row.get("non_2xx", 0)),
        str(row.get("socket_errors", 0)),
    ]


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Format result dicts as a Markdown table that also reads well in a terminal."""
    cells = [list(COLUMNS), *(row_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    separator = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(cells[0]), separator, *(line(row) for row in cells[1:])])


def print_table(rows: Sequence[Mapping[str, Any]]) -> None:
    """Print result dicts as a table."""
    print(format_table(rows))


def machine_info() -> dict[str, str]:
    """Describe this machine (CPU, cores, memory, Python, date) so figures can be compared."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        if match := re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M):
            cpu = match[1].strip()
    memory = "unknown"
    with contextlib.suppress(OSError):
        meminfo = Path("/proc/meminfo").read_text()
        if match := re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M):
            memory = f"{int(match[1]) / 1024 / 1024:.1f} GiB"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ),
        "memory": memory,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


def append_results(
    markdown_path: str | Path, title: str, rows: Sequence[Mapping[str, Any]], notes: str = ""
) -> None:
    """Append a dated section with the machine's description and the figures to a Markdown file."""
    info = machine_info()
    machine = ", ".join(f"{key} {value}" for key, value in info.items() if key != "date")
    section = [f"## {title} ({info['date']})", "", f"Machine: {machine}.", ""]
    if notes:
        section += [notes.strip(), ""]
    section += [format_table(rows), ""]
    path = Path(markdown_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text() if path.exists() else ""
    separator = "\n" if existing and not existing.endswith("\n\n") else ""
    if existing and not existing.endswith("\n"):
        separator = "\n\n"
    with path.open("a") as markdown:
        markdown.write(separator + "\n".join(section))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run bench/bench_harness_selftest.py, or import bench.harness from a benchmark")
