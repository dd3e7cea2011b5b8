"""Logging in and staying logged in: sessions, CSRF, login rate limits, OpenID Connect.

- Sessions are Starlette's signed cookies (itsdangerous): HttpOnly, SameSite=Lax, Secure
  unless the configuration turns it off for a loopback console, ending after
  ``console.session_hours``. The key comes from ``console.secret_env`` or a file made once
  (mode 0600) in the hub's home; a new key ends every session.
- Every state-changing request (a POST) carries the session's CSRF token, in the form or in
  the ``X-CSRF-Token`` header (htmx), compared in constant time; a request without it is
  refused before anything runs.
- Failed logins are limited per client address and per user name (limits' moving window):
  guessing is slowed for everyone, and one attacker cannot lock a user out from everywhere
  (the per-name limit is looser than the per-address one).
- OpenID Connect through Authlib: the authorization code flow against the configured
  provider; the ID token's claims say the user's role and agency.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from hub.config import OidcSettings
from hub.console.accounts import ROLES, User
from hub.errors import HubError

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
PER_ADDRESS = RateLimitItemPerMinute(10, 5)  # failed logins from one address in 5 minutes
PER_NAME = RateLimitItemPerMinute(30, 5)  # failed logins for one user name in 5 minutes


def session_secret(variable: str, home: Path) -> str:
    """The key the session cookies are signed with."""
    given = os.environ.get(variable)
    if given:
        if len(given) < 32:
            raise HubError(
                f"{variable} is shorter than 32 characters",
                fix=f"export {variable}=$(python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')",
            )
        return given
    path = home / "console-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def current_user(request: Request) -> User | None:
    data = request.session.get("user")
    if not data:
        return None
    return User(data["name"], data["role"], data.get("agency"), data.get("via", "local"))


def log_in(request: Request, user: User) -> None:
    """A new session for the user: a fresh CSRF token, nothing kept from before."""
    language = request.session.get("lang")
    request.session.clear()
    request.session.update(
        user={"name": user.name, "role": user.role, "agency": user.agency, "via": user.via},
        csrf=secrets.token_urlsafe(32),
    )
    if language:
        request.session["lang"] = language


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def csrf_ok(request: Request) -> bool:
    expected = request.session.get("csrf")
    if not expected:
        return False
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        given = form.get(CSRF_FIELD)
    return isinstance(given, str) and secrets.compare_digest(given, expected)


class LoginLimiter:
    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def blocked(self, address: str, name: str) -> bool:
        return not (
            self._limiter.test(PER_ADDRESS, "address", address)
            and self._limiter.test(PER_NAME, "name", name.lower())
        )

    def failed(self, address: str, name: str) -> None:
        self._limiter.hit(PER_ADDRESS, "address", address)
        self._limiter.hit(PER_NAME, "name", name.lower())

    def retry_after(self, address: str, name: str) -> int:
        """Seconds until a login may be tried again."""
        import time

        resets = [
            self._limiter.get_window_stats(PER_ADDRESS, "address", address).reset_time,
            self._limiter.get_window_stats(PER_NAME, "name", name.lower()).reset_time,
        ]
        return max(1, int(max(resets) - time.time()))


def oidc_client(settings: OidcSettings):
    """Authlib's Starlette client for the provider."""
    from authlib.integrations.starlette_client import OAuth

    secret = os.environ.get(settings.client_secret_env)
    if not secret:
        raise HubError(
            f"console.oidc names {settings.client_secret_env}, which is not set",
            fix=f"export {settings.client_secret_env}=<the client secret the identity "
            "provider gave the console>.",
        )
    oauth = OAuth()
    oauth.register(
        "provider",
        server_metadata_url=settings.metadata_url,
        client_id=settings.client_id,
        client_secret=secret,
        client_kwargs={"scope": settings.scope},
    )
    return oauth.provider


def user_of_claims(claims: dict, settings: OidcSettings) -> User | str:
    """The user the ID token's claims describe, or why they may not log in."""
    name = claims.get("preferred_username") or claims.get("email") or claims.get("sub")
    role = claims.get(settings.role_claim) or (
        None if settings.default_role == "none" else settings.default_role
    )
    if not name:
        return "the identity provider named no user"
    if role not in ROLES:
        return f"the identity provider gives {name} no console role ({settings.role_claim})"
    agency = claims.get(settings.agency_claim) if role == "agency" else None
    if role == "agency" and not agency:
        return f"{name} is an agency operator without an agency ({settings.agency_claim})"
    return User(str(name), role, agency, via=str(claims.get("iss") or "oidc"))
