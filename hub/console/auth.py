"""Logging in and staying logged in: sessions, CSRF, login rate limits, OpenID Connect.

- Sessions are Starlette's signed cookies (itsdangerous): HttpOnly, SameSite=Lax, Secure
  unless the configuration turns it off for a loopback console, ending after
  ``console.session_hours``. The key comes from ``console.secret_env`` or a file made once
  (mode 0600) in the hub's home; a new key ends every session.
- Every state-changing request (a POST) carries the session's CSRF token, in the form or in
  the ``X-CSRF-Token`` header (htmx), compared in constant time; a request without it is
  refused before anything runs.
- Logins are limited per client address and slowed per user name (LoginLimiter), and only
  a few passwords are checked at once.
- OpenID Connect through Authlib: the authorization code flow against the configured
  provider; the ID token's claims say the user's role and agency.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import secrets
import time
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
PER_ADDRESS = RateLimitItemPerMinute(30, 5)  # login attempts from one address in 5 minutes
PER_NAME = RateLimitItemPerMinute(30, 5)  # failed logins for one user name in 5 minutes
NAME_PACE = 2.0  # seconds between attempts for a name past PER_NAME
CHECKS = 2  # password checks at once in the process


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


def session_user(request: Request) -> User | None:
    """Who the session says is logged in, unchecked (Console.current checks it)."""
    data = request.session.get("user")
    if not data:
        return None
    return User(data["name"], data["role"], data.get("agency"), data.get("via", "local"))


def log_in(request: Request, user: User, password_mark: str | None = None) -> None:
    """A new session for the user: a fresh id and CSRF token, when it began (it ends
    ``session_hours`` later whatever happens in it), and for a local account a mark of its
    password hash (a new password ends the sessions of the old one)."""
    language = request.session.get("lang")
    request.session.clear()
    request.session.update(
        user={"name": user.name, "role": user.role, "agency": user.agency, "via": user.via},
        csrf=secrets.token_urlsafe(32),
        sid=secrets.token_urlsafe(16),
        began=time.time(),
        mark=password_mark,
    )
    if language:
        request.session["lang"] = language


def password_mark(password_hash: str) -> str:
    """A short mark of a password hash, for the session (never the hash itself)."""
    import hashlib

    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


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
    """How many password checks run, and for whom.

    - Per client address (IPv6 by its /64: one host holds a whole /64), every attempt counts,
      counted before its password is checked, in one step: a burst of requests cannot slip
      past the limit while the checks run.
    - Per user name, failures count; past PER_NAME, attempts for that name are not refused
      (that would let anyone lock a user out) but taken one at a time, NAME_PACE seconds
      apart, from wherever they come: guessing one name from many addresses is slowed to a
      crawl while the user can still log in.
    - At most CHECKS password checks at once in the process (Argon2id takes 64 MiB each):
      a flood is answered 429 instead of filling the memory of the hub it runs in.
    """

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.checks = asyncio.Semaphore(CHECKS)
        self._turns: dict[str, asyncio.Lock] = {}

    @staticmethod
    def source(address: str) -> str:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def attempt(self, address: str) -> bool:
        """Count an attempt from ``address``; False if it is over its limit."""
        return self._limiter.hit(PER_ADDRESS, "address", self.source(address))

    def retry_after(self, address: str) -> int:
        stats = self._limiter.get_window_stats(PER_ADDRESS, "address", self.source(address))
        return max(1, int(stats.reset_time - time.time()))

    def name_under_attack(self, name: str) -> bool:
        return not self._limiter.test(PER_NAME, "name", name.lower())

    def failed(self, name: str) -> None:
        self._limiter.hit(PER_NAME, "name", name.lower())

    def turn(self, name: str) -> asyncio.Lock:
        """The lock attempts for a name under attack take in turn."""
        return self._turns.setdefault(name.lower(), asyncio.Lock())


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


def user_of_claims(claims: dict, settings: OidcSettings, directory=None) -> User | str:
    """The user the ID token's claims describe, or why they may not log in. An agency
    operator's agency is one string naming an agency of the directory (a claim holding a
    list, as multivalued attributes give, is refused)."""
    name = claims.get("preferred_username") or claims.get("email") or claims.get("sub")
    role = claims.get(settings.role_claim) or (
        None if settings.default_role == "none" else settings.default_role
    )
    if not name:
        return "the identity provider named no user"
    if role not in ROLES:
        return f"the identity provider gives {name} no console role ({settings.role_claim})"
    agency = claims.get(settings.agency_claim) if role == "agency" else None
    if role == "agency" and not (isinstance(agency, str) and agency):
        return f"{name} is an agency operator without one agency ({settings.agency_claim})"
    if agency is not None and directory is not None and agency not in directory:
        return f"{name}'s agency {agency!r} is not in the directory"
    return User(str(name), role, agency, via=str(claims.get("iss") or "oidc"))
