"""Drive a real Chromium against a real waitress server, and check pages with axe-core.

Everything here stays on 127.0.0.1: Debian's chromium is launched with its background
services switched off, axe-core is read from the file shipped in the
``axe_playwright_python`` package, and the server binds to a free loopback port.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from waitress.server import create_server
from waitress.wasyncore import close_all

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Request

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
LOCAL_HOSTS = ("127.0.0.1",)
# Schemes that never reach the network, so they cannot leave the machine.
LOCAL_SCHEMES = ("data", "blob", "about")


def chromium_path() -> str | None:
    """Return the path of Debian's chromium, or None when it is not installed."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def require_chromium() -> str:
    """Return chromium's path, skipping the test without it (failing it on CI)."""
    path = chromium_path()
    if path is not None:
        return path
    message = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        # CI must run every browser test: a missing browser is a broken build, not a skip.
        pytest.fail(f"{message}; CI never skips browser tests", pytrace=False)
    pytest.skip(message)


def launch_chromium(
    playwright: Playwright, *, headless: bool = True, extra_args: Sequence[str] = ()
) -> Browser:
    """Launch Debian's chromium through Playwright, with no background network traffic."""
    return playwright.chromium.launch(
        executable_path=require_chromium(),
        headless=headless,
        args=[*CHROMIUM_ARGS, *extra_args],
    )


def new_context(
    browser: Browser, *, javascript_enabled: bool = True, **options: Any
) -> BrowserContext:
    """Open a fresh browser context (no shared cookies or cache), optionally without JS."""
    return browser.new_context(java_script_enabled=javascript_enabled, **options)


@cache
def axe_source() -> str:
    """Return the axe-core script shipped inside the axe_playwright_python package."""
    return (importlib.resources.files("axe_playwright_python") / "axe.min.js").read_text("utf-8")


def inject_axe(page: Page) -> None:
    """Load axe-core into the page unless it is already there."""
    if page.evaluate("() => typeof window.axe === 'undefined'"):
        # evaluate() goes through the DevTools protocol, so the page's CSP cannot block it
        # (an inline <script> from add_script_tag would be refused by script-src 'self').
        page.evaluate(f"{axe_source()}\n;undefined")


class AxeUnavailable(RuntimeError):
    """axe-core cannot run on this page, because the page's JavaScript is switched off."""


def check_timers_run(page: Page, timeout_ms: float = 2000) -> None:
    """Raise AxeUnavailable unless the page runs timers, which axe-core needs to finish."""
    page.evaluate(
        "() => { window.__axeTimerCheck = false;"
        " setTimeout(() => { window.__axeTimerCheck = true; }, 0); }"
    )
    try:
        page.wait_for_function("() => window.__axeTimerCheck", timeout=timeout_ms)
    except PlaywrightTimeoutError:
        # With java_script_enabled=False evaluate() still works but timers never fire, so
        # axe.run() would hang forever; fail fast instead.
        raise AxeUnavailable(
            f"axe-core cannot run on {page.url}: JavaScript is off in this browser context; "
            "check the same page in a context with JavaScript on"
        ) from None


def run_axe(page: Page, tags: Iterable[str] = AXE_TAGS) -> list[dict[str, Any]]:
    """Run axe-core on the page, restricted to the given rule tags, and return its violations."""
    check_timers_run(page)
    inject_axe(page)
    options = {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]}
    results = page.evaluate("(options) => axe.run(document, options)", options)
    return results["violations"]


def format_violations(violations: Sequence[dict[str, Any]]) -> str:
    """Describe axe violations for a person: rule, impact, help and the offending nodes."""
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation.get('impact') or 'unknown impact'}): "
            f"{violation['help']}\n  {violation.get('helpUrl', '')}"
        )
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node.get("target", []))
            html = " ".join(node.get("html", "").split())
            if len(html) > 200:
                html = html[:197] + "..."
            lines.append(f"    at {target}: {html}")
    return "\n".join(lines)


def assert_no_axe_violations(page: Page, context: str = "", tags: Iterable[str] = AXE_TAGS) -> None:
    """Fail the test with a readable summary if axe-core finds any violation on the page."""
    violations = run_axe(page, tags)
    if violations:
        where = f" {context}" if context else ""
        pytest.fail(
            f"{len(violations)} axe violation(s) on {page.url}{where}:\n"
            f"{format_violations(violations)}",
            pytrace=False,
        )


@dataclass
class RequestLog:
    """The URLs of every request a page or browser context made, in order."""

    urls: list[str] = field(default_factory=list)

    def record(self, request: Request) -> None:
        """Remember one request's URL."""
        self.urls.append(request.url)

    def external(self, allowed_hosts: Sequence[str] = LOCAL_HOSTS) -> list[str]:
        """Return the URLs that went anywhere but the allowed hosts."""
        return [
            url
            for url in self.urls
            if urlsplit(url).scheme not in LOCAL_SCHEMES
            and urlsplit(url).hostname not in allowed_hosts
        ]

    def assert_local(self, allowed_hosts: Sequence[str] = LOCAL_HOSTS) -> None:
        """Fail the test if any request left the allowed hosts."""
        external = self.external(allowed_hosts)
        if external:
            listed = "\n".join(f"  {url}" for url in external)
            pytest.fail(f"requests left {', '.join(allowed_hosts)}:\n{listed}", pytrace=False)


def record_requests(target: Page | BrowserContext) -> RequestLog:
    """Start recording every request URL of a page, or of all pages in a browser context."""
    log = RequestLog()
    target.on("request", log.record)
    return log


class ServerThread:
    """Serve a WSGI app with waitress on a free 127.0.0.1 port from a daemon thread."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", threads: int = 4) -> None:
        self.server = create_server(app, host=host, port=0, threads=threads)
        self.host = host
        self.port = int(self.server.effective_port)
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self.server.run, name=f"waitress-{self.port}", daemon=True
        )
        self._stopped = False

    def start(self) -> ServerThread:
        """Start serving in the background; the socket already listens, so no wait is needed."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        """Close the listening socket and every open connection, then stop the workers."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            # Close from inside the loop's own thread; an empty map ends the loop.
            self.server.trigger.pull_trigger(self._close_all)
            self._thread.join(timeout)
        else:
            self._close_all()
        self.server.task_dispatcher.shutdown(timeout=timeout)

    def _close_all(self) -> None:
        """Close every socket waitress holds, the listener and keep-alive connections alike."""
        close_all(self.server._map, ignore_all=True)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def quick_password_hashing() -> Iterator[None]:
    """Hash staff passwords cheaply while a test makes its accounts: argon2 at its real
    cost takes half a second a password, and a browser test signs in several."""
    from argon2 import PasswordHasher

    from participate.hub import users

    hasher = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    try:
        yield
    finally:
        users._hasher = hasher


def hub_server(path: os.PathLike[str] | str) -> Iterator[ServerThread]:
    """Serve a hub on the store at `path` (a module's `server` fixture yields from this)."""
    from participate.app import create_app

    app = create_app({"DATABASE": str(path), "ROLE": "hub", "SECRET_KEY": "test"})
    with ServerThread(app) as running:
        yield running
