"""Prove the browser helpers end to end against a throwaway Flask app."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest
from flask import Flask, Response

from tests.support import browser as support
from tests.support.browser import (
    AxeUnavailable,
    RequestLog,
    ServerThread,
    assert_no_axe_violations,
    launch_chromium,
    new_context,
    record_requests,
    run_axe,
)

GOOD_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Good page</title>
  <link rel="stylesheet" href="/static/site.css">
</head>
<body>
  <main>
    <h1>Tell us what you think</h1>
    <img src="/static/logo.svg" alt="Participate logo" width="40" height="40">
    <form method="post" action="/answer">
      <label for="name">Your name</label>
      <input id="name" name="name" type="text">
      <button type="submit">Send</button>
    </form>
  </main>
  <script src="/static/site.js"></script>
</body>
</html>
"""

BAD_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Bad page</title></head>
<body>
  <main>
    <h1>Broken on purpose</h1>
    <img src="/static/logo.svg">
    <button type="button"></button>
  </main>
</body>
</html>
"""

LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
    '<rect width="40" height="40" fill="#036"/></svg>'
)


def make_app() -> Flask:
    """Build a tiny app serving one accessible page, one broken page and local assets."""
    app = Flask(__name__)

    @app.get("/")
    def good() -> str:
        return GOOD_PAGE

    @app.get("/bad")
    def bad() -> str:
        return BAD_PAGE

    @app.get("/csp")
    def strict_csp() -> Response:
        response = Response(GOOD_PAGE)
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        return response

    @app.get("/static/site.css")
    def css() -> Response:
        return Response("body { font-size: 1.25rem; }", mimetype="text/css")

    @app.get("/static/site.js")
    def js() -> Response:
        return Response("document.body.dataset.enhanced = 'yes';", mimetype="text/javascript")

    @app.get("/static/logo.svg")
    def logo() -> Response:
        return Response(LOGO, mimetype="image/svg+xml")

    return app


@pytest.fixture(scope="module")
def live_server() -> Iterator[ServerThread]:
    with ServerThread(make_app()) as server:
        yield server


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    support.require_chromium()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = new_context(chromium)
    yield context.new_page()
    context.close()


def test_server_thread_serves_on_loopback(live_server):
    assert live_server.url == f"http://127.0.0.1:{live_server.port}"
    with urllib.request.urlopen(live_server.url + "/static/site.css", timeout=5) as response:
        assert response.status == 200
        assert b"font-size" in response.read()


def test_server_thread_stops_and_frees_port():
    with ServerThread(make_app(), threads=1) as server:
        # Hold a keep-alive connection open: stop() must still return promptly.
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    idle.close()
    assert not server._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


@pytest.mark.browser
def test_chromium_loads_page_and_runs_its_script(live_server, page):
    page.goto(live_server.url + "/")
    assert page.get_by_role("heading", name="Tell us what you think").is_visible()
    assert page.get_by_label("Your name").is_editable()
    assert page.locator("body").get_attribute("data-enhanced") == "yes"


@pytest.mark.browser
def test_javascript_can_be_switched_off(live_server, chromium):
    context = new_context(chromium, javascript_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/")
    assert page.locator("body").get_attribute("data-enhanced") is None
    # Timers never fire with JavaScript off, so axe-core could not finish: say so at once.
    with pytest.raises(AxeUnavailable, match="JavaScript is off"):
        run_axe(page)
    context.close()


@pytest.mark.browser
def test_axe_finds_no_violation_on_good_page(live_server, page):
    page.goto(live_server.url + "/")
    assert run_axe(page) == []
    assert_no_axe_violations(page, "on the good page")


@pytest.mark.browser
def test_axe_runs_despite_strict_csp(live_server, page):
    page.goto(live_server.url + "/csp")
    assert_no_axe_violations(page, "under a strict CSP")


@pytest.mark.browser
def test_axe_reports_violations_on_bad_page(live_server, page):
    page.goto(live_server.url + "/bad")
    rules = {violation["id"] for violation in run_axe(page)}
    assert {"image-alt", "button-name"} <= rules


@pytest.mark.browser
def test_assert_no_axe_violations_explains_failure(live_server, page):
    page.goto(live_server.url + "/bad")
    with pytest.raises(pytest.fail.Exception) as failure:
        assert_no_axe_violations(page, "on the bad page")
    message = str(failure.value)
    assert "on the bad page" in message
    assert "image-alt (critical)" in message
    assert "button-name" in message
    assert '<img src="/static/logo.svg">' in message


@pytest.mark.browser
def test_record_requests_sees_only_loopback(live_server, page):
    log = record_requests(page)
    page.goto(live_server.url + "/")
    page.wait_for_load_state("networkidle")
    paths = {url.removeprefix(live_server.url) for url in log.urls}
    assert {"/", "/static/site.css", "/static/site.js", "/static/logo.svg"} <= paths
    assert log.external() == []
    log.assert_local()


@pytest.mark.parametrize(
    ("url", "external"),
    [
        ("http://127.0.0.1:8080/kiosk", False),
        ("data:image/png;base64,AAAA", False),
        ("about:blank", False),
        ("https://cdn.example.com/htmx.js", True),
        ("http://localhost:8080/", True),
        ("https://fonts.googleapis.com/css?family=Inter", True),
    ],
)
def test_request_log_flags_external_urls(url, external):
    log = RequestLog(urls=[url])
    assert (log.external() == [url]) is external


def test_request_log_assert_local_lists_offenders():
    log = RequestLog(urls=["http://127.0.0.1/", "https://cdn.example.com/app.js"])
    with pytest.raises(pytest.fail.Exception, match="cdn.example.com/app.js"):
        log.assert_local()


def test_missing_chromium_skips_locally(monkeypatch):
    monkeypatch.setattr(support, "chromium_path", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        support.require_chromium()


def test_missing_chromium_fails_on_ci(monkeypatch):
    monkeypatch.setattr(support, "chromium_path", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI never skips"):
        support.require_chromium()
