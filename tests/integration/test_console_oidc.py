"""Logging in to the console through OpenID Connect (Authlib, authorization code flow)
against an identity provider on loopback that signs its ID tokens (RS256) the way a
government one does: the user's role and agency come from the token's claims, a token
without a role is refused, and a forged callback (a state the console never issued) fails."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import yaml
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from connectors.simulator import free_port, serve
from hub.config import load_config
from hub.console import open_console
from hub.console.app import build_app

pytestmark = pytest.mark.kafka
CLIENT_ID, CLIENT_SECRET = "lapor-console", "rahasia-klien-uji"


class Provider:
    """An identity provider that logs in whoever ``next_claims`` describes."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.codes: dict[str, dict] = {}
        self.next_claims: dict = {}
        self.url = ""

    def app(self) -> Starlette:
        async def metadata(_request: Request):
            return JSONResponse(
                {
                    "issuer": self.url,
                    "authorization_endpoint": f"{self.url}/authorize",
                    "token_endpoint": f"{self.url}/token",
                    "jwks_uri": f"{self.url}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            )

        async def authorize(request: Request):
            asked = request.query_params
            assert asked["client_id"] == CLIENT_ID
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": asked.get("nonce"), **self.next_claims}
            back = {"code": code, "state": asked["state"]}
            return RedirectResponse(f"{asked['redirect_uri']}?{urlencode(back)}", 302)

        async def token(request: Request):
            form = await request.form()
            auth = request.headers.get("authorization", "")
            assert auth.startswith("Basic "), "the client authenticates itself"
            claims = self.codes.pop(str(form["code"]))
            now = int(time.time())
            body = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 300, **claims}
            header = {"alg": "RS256", "kid": "k1"}
            id_token = jwt.encode(header, body, self.key)
            return JSONResponse(
                {"access_token": "at", "token_type": "Bearer", "expires_in": 300,
                 "id_token": id_token}
            )  # fmt: skip

        async def jwks(_request: Request):
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", metadata),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", jwks),
            ]
        )


@pytest.fixture(scope="module")
def console(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    folder = tmp_path_factory.mktemp("oidc")
    provider = Provider()
    with contextlib.ExitStack() as stack:
        provider.url = stack.enter_context(serve(provider.app()))
        port = free_port()
        path = folder / "hub.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "group_prefix": "oidc",
                    "connectors": {"nasional": {"type": "lapor-json", "agency": "admin-nasional"}},
                    "console": {
                        "port": port,
                        "secure_cookies": False,
                        "accounts": str(folder / "none.yaml"),
                        "oidc": {
                            "metadata_url": f"{provider.url}/.well-known/openid-configuration",
                            "client_id": CLIENT_ID,
                            "client_secret_env": "TEST_OIDC_SECRET",
                        },
                    },
                }
            )
        )
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("TEST_OIDC_SECRET", CLIENT_SECRET)
        running = open_console(load_config(Path(path)), kafka_bootstrap)
        stack.callback(running.stop)
        app = build_app(running.console, secrets.token_urlsafe(48))
        url = stack.enter_context(serve(app, port))
        yield url, provider


def test_a_user_of_the_identity_provider_logs_in_with_the_role_its_token_gives(console):
    url, provider = console
    provider.next_claims = {
        "sub": "u-17",
        "preferred_username": "siti",
        "lapor_role": "agency",
        "lapor_agency": "pemkot-surabaya",
    }
    with httpx.Client(base_url=url, follow_redirects=True) as client:
        page = client.get("/login/oidc")
        assert page.status_code == 200, page.text[:300]
        assert page.url.path == "/"
        assert "siti (agency: pemkot-surabaya)" in page.text
        # an agency operator: the audit trail is not hers to see
        assert client.get("/audit").status_code == 403


def test_a_token_without_a_role_is_refused(console):
    url, provider = console
    provider.next_claims = {"sub": "u-18", "preferred_username": "tamu"}
    with httpx.Client(base_url=url, follow_redirects=True) as client:
        page = client.get("/login/oidc")
        assert page.status_code == 403
        assert "no console role" in page.text
        assert client.get("/", follow_redirects=False).status_code == 303  # not logged in


def test_a_callback_the_console_did_not_start_is_refused(console):
    url, provider = console
    provider.next_claims = {"sub": "u-19", "preferred_username": "x", "lapor_role": "national"}
    provider.codes["stolen"] = {"nonce": "n", **provider.next_claims}
    with httpx.Client(base_url=url, follow_redirects=True) as client:
        page = client.get("/login/oidc/back", params={"code": "stolen", "state": "forged"})
        assert page.status_code == 401
        assert client.get("/", follow_redirects=False).status_code == 303
