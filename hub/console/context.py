"""What every console page needs: the views, the configuration, the directory, the
templates, and who is asking (with what they may see)."""

from __future__ import annotations

import base64
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
from hub.console.accounts import User
from hub.console.auth import LoginLimiter, csrf_ok, csrf_token, current_user
from hub.console.i18n import LANGUAGES, translate
from hub.console.letters import LettersView
from hub.console.network import Scraper
from hub.console.view import ReportsView
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
    scraper: Scraper
    accounts: Path
    caught_up: Callable[[], bool]
    serializer: Any  # hub.serialization.TopicSerializer
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    oidc: Any = None  # Authlib's client, when console.oidc is configured
    replays: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> progress

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
        chosen = request.query_params.get("lang") or request.session.get("lang")
        if chosen in LANGUAGES:
            request.session["lang"] = chosen
            return chosen
        return self.config.console.language

    def render(self, request: Request, template: str, status: int = 200, **values) -> Response:
        language = self.language(request)
        page = TEMPLATES.get_template(template).render(
            t=lambda key, **v: translate(language, key, **v),
            lang=language,
            user=current_user(request),
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
        user = current_user(request)
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
