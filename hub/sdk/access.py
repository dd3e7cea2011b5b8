"""How the hub reaches one agency app: its credentials, its TLS, its timeout.

Each connector instance gets an HTTP client of its own (``app_client``), built once when the
hub starts from the instance's settings, so one app's token is never sent to another and a
slow app's timeout is its own. Secrets are never in the configuration file: it names the
environment variable holding each one, and a variable that is not set stops the start with
its name (not the first request, at 3 a.m.).

    connectors:
      pemprov-jateng:
        type: lapor-json
        agency: pemprov-jateng
        base_url: https://lapor.jatengprov.go.id/api
        timeout_s: 20
        auth: {type: bearer, token_env: JATENG_API_TOKEN}
        tls: {ca: /etc/lapor-hub/jateng-ca.pem, cert: /etc/lapor-hub/hub.pem,
              key: /etc/lapor-hub/hub.key}
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.errors import ConnectorError


def _secret(variable: str, what: str) -> str:
    # a secret made from a file often ends with a newline, which no header may carry
    value = (os.environ.get(variable) or "").strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConnectorError(
            f"{what} in the environment variable {variable} holds a control character",
            fix=f"set {variable} to the secret alone, without line breaks.",
        )
    if not value:
        raise ConnectorError(
            f"{what} is read from the environment variable {variable}, which is not set",
            fix=f"export {variable}=<the secret the agency issued to the hub>, then start again.",
        )
    return value


class BearerAuth(BaseModel):
    """``Authorization: Bearer <token>`` on every request."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["bearer"]
    token_env: str

    def client_options(self) -> dict:
        return {"headers": {"Authorization": f"Bearer {_secret(self.token_env, 'the token')}"}}


class BasicAuth(BaseModel):
    """HTTP Basic with a user the agency made for the hub."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["basic"]
    username: str
    password_env: str

    def client_options(self) -> dict:
        password = _secret(self.password_env, f"the password of {self.username}")
        return {"auth": httpx.BasicAuth(self.username, password)}


class HeaderAuth(BaseModel):
    """An API key in a header of the app's choosing (``X-API-Key``)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["header"]
    name: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    value_env: str

    def client_options(self) -> dict:
        return {"headers": {self.name: _secret(self.value_env, f"the {self.name} header")}}


AppAuth = Annotated[BearerAuth | BasicAuth | HeaderAuth, Field(discriminator="type")]


class AppTls(BaseModel):
    """The app's certificate checked against ``ca`` (an agency's private CA) instead of the
    system's; ``cert`` and ``key``: the hub's client certificate where the app asks for one
    (mutual TLS)."""

    model_config = ConfigDict(extra="forbid")
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @model_validator(mode="after")
    def _pairs(self) -> AppTls:
        if self.key is not None and self.cert is None:
            raise ValueError("a client key without its certificate (cert)")
        return self

    def check_files(self, instance: str) -> None:
        """Where the client is built, not where the settings are read: the tracker reads
        every connector's settings but never calls an app."""
        for path in (self.ca, self.cert, self.key):
            if path is not None and not path.is_file():
                raise ConnectorError(
                    f"connector {instance!r}: its TLS file {path} is not there",
                    fix="put the file there (in a pod: mount it), or correct tls: in the "
                    "configuration.",
                )


def app_client(
    timeout_s: float,
    auth: BearerAuth | BasicAuth | HeaderAuth | None,
    tls: AppTls | None,
    instance: str = "?",
) -> httpx.AsyncClient:
    """An HTTP client for one agency app (httpx on aiohttp's transport, as the hub's other
    clients). Raises ConnectorError for a secret that is not in the environment."""
    from httpx_aiohttp import HttpxAiohttpClient

    verify: ssl.SSLContext | bool = True
    if tls is not None:
        tls.check_files(instance)
        verify = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
        if tls.cert is not None:  # the key may be in the certificate's file
            verify.load_cert_chain(str(tls.cert), str(tls.key) if tls.key else None)
    options = auth.client_options() if auth is not None else {}
    return HttpxAiohttpClient(timeout=timeout_s, verify=verify, **options)
