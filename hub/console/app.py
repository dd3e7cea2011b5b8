"""The operator console: a Starlette app served by the hub (``lapor-hub console``, or
beside ``lapor-hub up --console``).

Pages are rendered on the server (Jinja2), refreshed in place with htmx where numbers move;
every asset is served from hub/console/static (no CDN, no build step). What the pages show
comes from memory (hub.console.view, .letters, .network), so a page costs the same however
many reports the hub tracks. docs/console.md says how to run it and who sees what.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.console.accounts import check_password
from hub.console.auth import NAME_PACE, csrf_ok, log_in, password_mark, user_of_claims
from hub.console.context import HERE, Console, Refused, to_login
from hub.console.i18n import translate
from hub.console.pages import audit, letters, network, reports, routing, sla

log = logging.getLogger(__name__)
_BUSY = object()  # too many password checks waiting: try again shortly

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Headers every answer carries; pages are never cached (they show reports)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _local(target: str | None) -> str:
    """Where to go after logging in: a path of this console, never another site."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc or "\\" in target else target


def build_app(console: Console, secret: str) -> Starlette:
    settings = console.config.console

    async def login_page(request: Request, error: str | None = None, status: int = 200):
        if console.current(request) is not None and error is None:
            return RedirectResponse(_local(request.query_params.get("next")), status_code=303)
        return console.render(
            request,
            "login.html",
            status=status,
            error=error,
            next=_local(request.query_params.get("next")),
        )

    async def login(request: Request):
        form = await request.form()
        name = str(form.get("username", ""))[:200]
        password = str(form.get("password", ""))[:1000]
        address = request.client.host if request.client else "?"
        language = console.language(request)
        if not await csrf_ok(request):  # the login form's own token
            return await login_page(request, translate(language, "csrf"), status=403)
        limiter = console.limiter
        if not limiter.attempt(address):
            seconds = limiter.retry_after(address)
            log.warning("console: login for %r from %s refused: too many attempts", name, address)
            return await login_page(
                request, translate(language, "too_many", seconds=seconds), status=429
            )
        user = await _checked(name, password)
        if user is _BUSY:
            return await login_page(request, translate(language, "too_many", seconds=5), 429)
        if user is None:
            limiter.failed(name)
            log.info("console: failed login for %r from %s", name, address)
            return await login_page(request, translate(language, "bad_login"), status=401)
        account = console.accounts_now().users.get(user.name)
        log_in(request, user, password_mark(account.password_hash) if account else None)
        log.info("console: %s logged in (%s) from %s", user.name, user.role, address)
        return RedirectResponse(_local(str(form.get("next", "/"))), status_code=303)

    async def _checked(name: str, password: str):
        """The user if the password is theirs: a few checks at a time, and for a name
        under attack one at a time, NAME_PACE apart."""
        limiter = console.limiter
        under_attack = limiter.name_under_attack(name)
        async with limiter.turn(name) if under_attack else contextlib.nullcontext():
            if under_attack:
                await asyncio.sleep(NAME_PACE)
            try:
                await asyncio.wait_for(limiter.checks.acquire(), 10)
            except TimeoutError:
                return _BUSY
            try:
                accounts = console.accounts_now()
                return await run_in_threadpool(check_password, accounts, name, password)
            finally:
                limiter.checks.release()

    async def logout(request: Request):
        await console.changing(request)
        console.log_out(request)
        return RedirectResponse("/login", status_code=303)

    async def oidc_start(request: Request):
        if console.oidc is None:
            raise Refused(404, "not_found")
        return await console.oidc.authorize_redirect(request, str(request.url_for("oidc_back")))

    async def oidc_back(request: Request):
        if console.oidc is None:
            raise Refused(404, "not_found")
        from authlib.integrations.base_client.errors import OAuthError

        try:
            token = await console.oidc.authorize_access_token(request)
        except OAuthError as exc:  # what the provider said goes to the log, not the page
            log.warning("console: OpenID Connect login refused: %s %s", exc.error, exc.description)
            return await login_page(
                request, translate(console.language(request), "sso_failed"), 401
            )
        claims = token.get("userinfo") or {}
        user = user_of_claims(dict(claims), settings.oidc, console.directory)
        if isinstance(user, str):
            log.warning("console: OpenID Connect login refused: %s", user)
            return await login_page(request, user, 403)
        log_in(request, user)
        log.info("console: %s logged in (%s) through %s", user.name, user.role, user.via)
        return RedirectResponse("/", status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        if exc.status == 401:
            if request.method == "GET":
                return to_login(request)
            return console.render(request, "message.html", status=401, key="log_in")
        return console.render(request, "message.html", status=exc.status, key=exc.key)

    routes = [
        Route("/login", login_page),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/login/oidc", oidc_start),
        Route("/login/oidc/back", oidc_back, name="oidc_back"),
        Mount("/static", StaticFiles(directory=Path(HERE / "static")), name="static"),
    ]
    for page in (network, sla, reports, letters, routing, audit):
        routes += page.routes(console)
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="lapor_console",
                max_age=int(settings.session_hours * 3600),
                same_site="lax",
                https_only=settings.secure_cookies,
            ),
        ],
        exception_handlers={Refused: refused},
    )
