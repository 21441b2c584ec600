"""docs/deploy.md's files, checked by their own tools: `nginx -t`, `systemd-analyze verify`.

Each tool is a Debian package `.ci/run` installs; without it a test skips here and fails
under CI. The nginx configuration is also run for real in front of a real hub.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from participate.settings import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"
NGINX_CONF = DEPLOY / "nginx" / "participate-hub.conf"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
CERT = "/etc/letsencrypt/live/hub.example.org/fullchain.pem"
KEY = "/etc/letsencrypt/live/hub.example.org/privkey.pem"
INSTALLED_SCRIPT = "/opt/participate/bin/participate"


def require_tool(name: str) -> str:
    """Return a Debian tool's path; skip without it, except under CI, which installs it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_prefix(tmp_path: Path, site: str) -> Path:
    """Write `site` into a throwaway nginx prefix (its own logs, temp dirs and a
    self-signed certificate in place of Let's Encrypt's); return the main config."""
    openssl = require_tool("openssl")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=hub.example.org", "-keyout", str(tmp_path / "key.pem")]
        + ["-out", str(tmp_path / "cert.pem")],
        check=True,
        capture_output=True,
    )
    site = site.replace(CERT, str(tmp_path / "cert.pem")).replace(KEY, str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site)
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp_path / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        "events {}\nhttp {\n"
        f"    access_log {tmp_path / 'access.log'};\n{temp_paths}"
        f"    include {tmp_path / 'site.conf'};\n}}\n"
    )
    return main


def nginx_check(tmp_path: Path, site: str) -> subprocess.CompletedProcess:
    main = nginx_prefix(tmp_path, site)
    return subprocess.run(
        [require_tool("nginx"), "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
    )


def test_the_nginx_configuration_passes_nginx_t(tmp_path: Path) -> None:
    result = nginx_check(tmp_path, NGINX_CONF.read_text())
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_t_catches_a_broken_copy(tmp_path: Path) -> None:
    broken = NGINX_CONF.read_text().replace("limit_conn participate_conn 32;", "limit_conn 32;")
    result = nginx_check(tmp_path, broken)
    assert result.returncode != 0 and "limit_conn" in result.stderr


def test_the_nginx_configuration_matches_the_hubs_settings() -> None:
    text = NGINX_CONF.read_text()
    # The headers ProxyFix trusts with TRUSTED_PROXIES=1 (x_for, x_proto, x_host), set
    # (overwritten), never appended to.
    for header, value in [
        ("X-Forwarded-For", "$remote_addr"),
        ("X-Forwarded-Proto", "$scheme"),
        ("X-Forwarded-Host", "$host"),
    ]:
        assert f"proxy_set_header {header} {value};" in text
    assert "$proxy_add_x_forwarded_for" not in text
    size = re.search(r"client_max_body_size (\d+)m;", text)
    assert size and int(size.group(1)) * 1024 * 1024 == DEFAULTS["MAX_CONTENT_LENGTH"]
    assert re.search(r"limit_conn participate_conn \d+;", text)
    assert re.search(r"limit_req zone=participate_req burst=\d+ nodelay;", text)
    assert "server 127.0.0.1:8000;" in text
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text


def _start_hub(tmp_path: Path, port: int) -> subprocess.Popen:
    with (tmp_path / "hub.log").open("ab") as out:
        hub = subprocess.Popen(
            [sys.executable, "-m", "participate", "hub", "--db", str(tmp_path / "hub.db")]
            + ["--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PARTICIPATE_SECRET_KEY": "deploy-test",
                "PARTICIPATE_TRUSTED_PROXIES": "1",
            },
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and hub.poll() is None:
        try:
            with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return hub
        except OSError:
            time.sleep(0.1)
    hub.kill()
    raise AssertionError("the hub did not start:\n" + (tmp_path / "hub.log").read_text())


@pytest.fixture
def proxied_hub(tmp_path: Path) -> Iterator[str]:
    """The shipped nginx configuration in front of a real hub; yield its HTTPS base URL.

    Only what cannot run in a test changes: ports (127.0.0.1 and free ones, no IPv6),
    the upstream's port, and the certificate (self-signed, in a throwaway prefix).
    """
    hub_port, http_port, https_port = _free_port(), _free_port(), _free_port()
    site = NGINX_CONF.read_text()
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{hub_port};")
    main = nginx_prefix(tmp_path, site)
    nginx = require_tool("nginx")
    hub = _start_hub(tmp_path, hub_port)
    with (tmp_path / "nginx.log").open("ab") as out:
        proxy = subprocess.Popen(
            [nginx, "-p", str(tmp_path), "-c", str(main), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", https_port)) == 0:
                    break
            assert proxy.poll() is None, (tmp_path / "nginx.log").read_text()
            time.sleep(0.05)
        yield f"https://127.0.0.1:{https_port}"
    finally:
        proxy.terminate()
        proxy.wait(10)
        hub.kill()
        hub.wait(10)


def _status(url: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urlopen(url, timeout=5, context=context) as response:
            return response.status
    except HTTPError as exc:
        return exc.code


def test_the_nginx_configuration_serves_the_hub_and_limits_sign_in_attempts(
    proxied_hub: str,
) -> None:
    assert _status(f"{proxied_hub}/healthz") == 200
    # 10 a minute with a burst of 10: a flood of sign-in pages is cut at nginx ...
    statuses = [_status(f"{proxied_hub}/staff/login") for _ in range(15)]
    assert statuses[0] == 200 and 429 in statuses
    # ... while the same client still reaches the rest of the hub.
    assert _status(f"{proxied_hub}/healthz") == 200


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("path", UNITS, ids=[unit.name for unit in UNITS])
def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path, path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    # verify checks that ExecStart's program exists: point it at this checkout's script.
    script = str(Path(sys.executable).with_name("participate"))
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace(INSTALLED_SCRIPT, script))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_systemd_analyze_verify_catches_a_typo(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    copy = tmp_path / "typo.service"
    copy.write_text("[Service]\nExecStart=/bin/true\nRestrat=always\n")
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=120
    )
    assert "Unknown key" in result.stderr and "Restrat" in result.stderr


@pytest.mark.parametrize(
    ("name", "role", "port"),
    [("participate-hub.service", "hub", "8000"), ("participate-node.service", "node", "8080")],
)
def test_the_server_units_run_participate_on_loopback_with_room_for_connections(
    name: str, role: str, port: str
) -> None:
    unit = _unit(DEPLOY / "systemd" / name)
    service = unit["Service"]
    command = service["ExecStart"].split()
    assert command[:2] == [INSTALLED_SCRIPT, role]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == port
    assert service["User"] == "participate" and service["Restart"] == "always"
    assert service["EnvironmentFile"] == f"/etc/participate/{role}.env"
    # The connection limit plus what serve.SPARE_FILES keeps for the rest.
    assert int(service["LimitNOFILE"]) >= DEFAULTS["SERVER_CONNECTION_LIMIT"] + 256
    assert service["ProtectSystem"] == "strict"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_kiosk_unit_opens_the_nodes_pages_in_chromium_kiosk_mode() -> None:
    unit = _unit(DEPLOY / "systemd" / "participate-kiosk.service")
    command = unit["Service"]["ExecStart"].split()
    assert command[0] == "/usr/bin/chromium" and "--kiosk" in command
    assert "--incognito" in command and command[-1] == "http://127.0.0.1:8080/"
    assert "participate-node.service" in unit["Unit"]["After"]
    assert "healthz" in unit["Service"]["ExecStartPre"]
    assert unit["Service"]["Restart"] == "always"
    assert unit["Install"]["WantedBy"] == "graphical.target"


def test_kiosk_setup_shows_the_shipped_node_unit() -> None:
    guide = (ROOT / "docs" / "kiosk-setup.md").read_text()
    assert (DEPLOY / "systemd" / "participate-node.service").read_text() in guide
