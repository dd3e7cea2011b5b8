"""What every console page needs: the views, the configuration, the directory, the
templates, and who is asking (with what they may see)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hub import topics
from hub.config import HubConfig
from hub.console.accounts import AccountsFile, User, load_accounts
from hub.console.auth import LoginLimiter, csrf_ok, csrf_token, password_mark, session_user
from hub.console.i18n import LANGUAGES, translate
from hub.console.letters import LettersView
from hub.console.network import Scraper
from hub.console.trail import TrailView
from hub.console.view import ReportsView
from hub.privacy import mask_contacts
from hub.records import Letter
from hub.routing.directory import Directory

HERE = Path(__file__).parent
WIB = ZoneInfo("Asia/Jakarta")


def when(moment: float | int | str | datetime | None) -> str:
    """A time as the national administrator reads it: WIB. Numbers are epoch seconds, or
    milliseconds when they are that large."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if not isinstance(moment, datetime):
        seconds = moment / 1000 if moment > 1e11 else moment
        moment = datetime.fromtimestamp(seconds, UTC)
    return moment.astimezone(WIB).strftime("%Y-%m-%d %H:%M WIB")


TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["masked"] = mask_contacts  # free texts an app or a citizen wrote


class Refused(Exception):
    """A request the user may not make: answered with ``status`` and a page saying why."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status, self.key = status, key


@dataclass
class Console:
    bootstrap: str
    config: HubConfig
    directory: Directory
    reports: ReportsView
    letters: LettersView
    trail: TrailView
    scraper: Scraper
    accounts: Path
    caught_up: Callable[[], bool]
    serializer: Any  # hub.serialization.TopicSerializer
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    oidc: Any = None  # Authlib's client, when console.oidc is configured
    replays: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> progress
    logged_out: dict[str, float] = field(default_factory=dict)  # session id -> its end
    _accounts: tuple[int | None, AccountsFile] | None = None

    # -- who may see what ----------------------------------------------------------------

    def agency_of_connector(self, connector: str | None) -> str | None:
        entry = self.config.connectors.get(connector or "")
        return entry.get("agency") if isinstance(entry, dict) else None

    def connectors_of(self, agency: str) -> set[str]:
        return {
            name
            for name, entry in self.config.connectors.items()
            if isinstance(entry, dict) and entry.get("agency") == agency
        }

    def may_see_report(self, user: User, summary) -> bool:
        if user.role != "agency":
            return True
        return summary.concerns(user.agency, self.agency_of_connector(summary.origin))

    def may_see_letter(self, user: User, letter: Letter) -> bool:
        return user.role != "agency" or letter.connector in self.connectors_of(user.agency)

    def decode_report(self, encoded: str) -> dict[str, Any]:
        """A report as the tracker keeps it (base64 of lapor.reports' encoding)."""
        return self.serializer.deserialize(topics.REPORTS, base64.b64decode(encoded))

    def agency_name(self, agency: str) -> str:
        return self.directory.get(agency).name if agency in self.directory else agency

    # -- answering -----------------------------------------------------------------------

    def language(self, request: Request) -> str:
        """The page's language; the session learns a choice once (a session written at
        every page would be sent again, and live on, at every refresh)."""
        asked = request.query_params.get("lang")
        if asked in LANGUAGES and request.session.get("lang") != asked:
            request.session["lang"] = asked
        chosen = request.session.get("lang")
        return chosen if chosen in LANGUAGES else self.config.console.language

    # -- sessions ------------------------------------------------------------------------

    def accounts_now(self) -> AccountsFile:
        """The accounts file as it is now (read again when it changed)."""
        try:
            stamp = self.accounts.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if self._accounts is None or stamp != self._accounts[0]:
            self._accounts = (stamp, load_accounts(self.accounts))
        return self._accounts[1]

    def current(self, request: Request) -> User | None:
        """The session's user while the session holds: not older than session_hours, not
        logged out, and for a local account the account as it is now (removed, given
        another role or agency, or another password: the session ends)."""
        user = session_user(request)
        if user is None:
            return None
        session = request.session
        began = session.get("began") or 0
        ended = time.time() - began > self.config.console.session_hours * 3600
        if not ended and session.get("sid") in self.logged_out:
            ended = True
        if not ended and user.via == "local":
            account = self.accounts_now().users.get(user.name)
            ended = (
                account is None
                or (account.role, account.agency) != (user.role, user.agency)
                or password_mark(account.password_hash) != session.get("mark")
            )
        if ended:
            language = session.get("lang")
            session.clear()
            if language:
                session["lang"] = language
            return None
        return user

    def log_out(self, request: Request) -> None:
        """End the session here and for any copy of its cookie (until it would have ended
        anyway; kept in this process's memory)."""
        sid, began = request.session.get("sid"), request.session.get("began") or 0
        if sid:
            self.logged_out[sid] = began + self.config.console.session_hours * 3600
        now = time.time()
        for old in [k for k, until in self.logged_out.items() if until < now]:
            del self.logged_out[old]
        request.session.clear()

    def render(self, request: Request, template: str, status: int = 200, **values) -> Response:
        language = self.language(request)
        page = TEMPLATES.get_template(template).render(
            t=lambda key, **v: translate(language, key, **v),
            lang=language,
            user=self.current(request),
            csrf=csrf_token(request),
            path=request.url.path,
            caught_up=self.caught_up(),
            oidc=self.config.console.oidc,
            agency_name=self.agency_name,
            when=when,
            **values,
        )
        return HTMLResponse(page, status_code=status)

    def user(self, request: Request, *roles: str) -> User:
        """The logged-in user, if their role is one of ``roles`` (any, when none named)."""
        user = self.current(request)
        if user is None:
            raise Refused(401, "log_in")
        if roles and user.role not in roles:
            raise Refused(403, "forbidden")
        return user

    async def changing(self, request: Request, *roles: str) -> User:
        """The user of a state-changing request, its CSRF token checked first."""
        if not await csrf_ok(request):
            raise Refused(403, "csrf")
        return self.user(request, *roles)


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
