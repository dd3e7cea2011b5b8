"""The console's logins and sessions under attack (a console of its own on loopback, its
views following a real broker): a burst of logins from one address gets only its limit of
password checks; guesses at one name from everywhere are paced, not a lockout; a session
ends when its account is removed, given another role or another password, when it is
logged out (a copied cookie too), and after session_hours however busy it is."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from connectors.simulator import free_port, serve
from hub.config import load_config
from hub.console import open_console
from hub.console.accounts import add_user, remove_user
from hub.console.app import build_app
from hub.console.auth import PER_ADDRESS

pytestmark = pytest.mark.kafka
PASSWORD = "kata-sandi-yang-panjang-2"


class Site:
    def __init__(self, url: str, accounts: Path, console) -> None:
        self.url, self.accounts, self.console = url, accounts, console


@pytest.fixture
def site(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Site]:
    accounts = tmp_path / "accounts.yaml"
    for name, role in (("ani", "national"), ("budi", "viewer")):
        add_user(accounts, name, PASSWORD, role, None)
    path = tmp_path / "hub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "group_prefix": "sessions",
                "connectors": {"nasional": {"type": "lapor-json", "agency": "admin-nasional"}},
                "console": {
                    "port": free_port(),
                    "secure_cookies": False,
                    "accounts": str(accounts),
                    "session_hours": 0.002,  # 7.2 s
                },
            }
        )
    )
    with contextlib.ExitStack() as stack:
        running = open_console(load_config(path), kafka_bootstrap)
        stack.callback(running.stop)
        app = build_app(running.console, secrets.token_urlsafe(48))
        yield Site(stack.enter_context(serve(app)), accounts, running.console)


def token_of(client: httpx.Client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)


def log_in(client: httpx.Client, name: str, password: str = PASSWORD) -> int:
    answer = client.post(
        "/login", data={"username": name, "password": password, "csrf": token_of(client)}
    )
    return answer.status_code


def test_a_burst_of_logins_gets_only_its_limit_of_password_checks(site: Site) -> None:
    checked = []
    original = site.console.accounts_now

    def counting():
        checked.append(1)
        return original()

    site.console.accounts_now = counting  # called once per password check

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=site.url, timeout=60) as client:
            page = await client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            data = {"username": "tamu", "password": "x" * 1000, "csrf": token}
            answers = await asyncio.gather(
                *(client.post("/login", data=data) for _ in range(3 * PER_ADDRESS.amount))
            )
            return [a.status_code for a in answers]

    codes = asyncio.run(burst())
    assert codes.count(429) == 2 * PER_ADDRESS.amount
    assert codes.count(401) == PER_ADDRESS.amount
    assert len(checked) <= PER_ADDRESS.amount  # no password check past the limit


def test_a_session_ends_with_its_account_role_or_password(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        assert log_in(client, "budi") == 303
        assert client.get("/sla").status_code == 200
        add_user(site.accounts, "budi", PASSWORD, "national", None)  # another role
        assert client.get("/sla").status_code == 303  # to the login page
        assert log_in(client, "budi") == 303
        add_user(site.accounts, "budi", PASSWORD + "-baru", "national", None)  # new password
        assert client.get("/sla").status_code == 303
        assert log_in(client, "budi", PASSWORD + "-baru") == 303
        remove_user(site.accounts, "budi")
        assert client.get("/sla").status_code == 303


def test_a_logged_out_cookie_is_dead_and_no_session_outlives_its_hours(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        assert log_in(client, "ani") == 303
        copied = dict(client.cookies)
        page = client.get("/sla?lang=en")
        assert page.status_code == 200
        assert "set-cookie" in page.headers  # the language learnt once...
        assert "set-cookie" not in client.get("/sla").headers  # ...not written again
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    with httpx.Client(base_url=site.url, cookies=copied) as thief:
        assert thief.get("/sla").status_code == 303
    with httpx.Client(base_url=site.url) as client:
        assert log_in(client, "ani") == 303
        began = time.monotonic()
        while time.monotonic() < began + 4.0:  # busy the whole time: it ends all the same
            assert client.get("/sla").status_code == 200
            time.sleep(0.5)
        time.sleep(max(0.0, began + 7.6 - time.monotonic()))
        assert client.get("/sla").status_code == 303
