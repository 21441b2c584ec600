"""Prove the harness works: serve a hello app with waitress and run wrk at it for 3 seconds.

Run from the repository root: `python -m bench.bench_harness_selftest`. It writes nothing
under docs/; append_results goes to a temporary file that is printed and thrown away.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from bench.harness import append_results, compare, free_port, print_table, run_wrk, start_server

# Each request posts a different id, as a benchmark of a submission route would.
VARYING_POST = """
counter = 0
request = function()
  counter = counter + 1
  local body = "id=" .. counter .. "&answer=yes"
  return wrk.format("POST", "/echo", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""


def hello_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """Answer 200 on / and /echo, 404 elsewhere, with a tiny body."""
    if environ["PATH_INFO"] == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
    elif environ["PATH_INFO"] == "/":
        body = b"hello"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def serve(port: int) -> None:
    """Serve hello_app on 127.0.0.1 with waitress until terminated."""
    from waitress import serve as waitress_serve

    waitress_serve(hello_app, host="127.0.0.1", port=port, threads=4, _quiet=True)


def main() -> None:
    """Start the hello server, benchmark GET, POST with varying bodies and a 404, then compare."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bench.bench_harness_selftest", "--serve", str(port)]
    root = Path(__file__).resolve().parent.parent
    with start_server(command, base + "/", cwd=root):
        get = run_wrk(base + "/", duration=3, name="GET /")
        post = run_wrk(base + "/echo", duration=3, lua_body=VARYING_POST, name="POST /echo (ids)")
        missing = run_wrk(base + "/missing", duration=3, connections=2, name="GET /missing")
    rows = [get, post, missing]
    print_table(rows)
    ratio, table = compare(get, post)
    print(f"\n{table}")
    assert missing["non_2xx"] == missing["requests"] > 0, "404s must be counted as non-2xx"
    assert get["non_2xx"] == post["non_2xx"] == 0, "hello app should only answer 200"
    assert all("p99_ms" in row for row in rows)
    with tempfile.TemporaryDirectory() as tmp:
        markdown = Path(tmp) / "benchmarks.md"
        markdown.write_text("# Benchmarks\n")
        append_results(markdown, "Harness self-test", rows, notes="Waitress hello app, 3 s runs.")
        print("\n" + markdown.read_text())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
    else:
        main()
