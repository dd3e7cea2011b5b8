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

import base64
import os
import ssl
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any, Literal

import aiohttp
import httpx
from httpx_aiohttp import HttpxAiohttpClient
from httpx_aiohttp.transport import map_aiohttp_exceptions
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
        # the header httpx.BasicAuth sends (UTF-8, RFC 7617), as a default header: the
        # direct path (AppClient.post_direct) sends the client's default headers too
        token = base64.b64encode(f"{self.username}:{password}".encode()).decode()
        return {"headers": {"Authorization": f"Basic {token}"}}


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


USER_AGENT = "lapor-hub"


class AppClient(HttpxAiohttpClient):
    """httpx's API on aiohttp's transport, for whatever a connector asks of its app; and
    ``post_direct`` for the one request every report makes, a delivery's POST (and a
    status told to an origin app): straight through an aiohttp session, without
    httpx's request and response models on the way. Measured on these machines, a POST
    and its JSON answer cost ~310 us of CPU through httpx on aiohttp, ~130 us direct,
    ~100 us with aiohttp alone. hub.sdk.http.post_to_app takes the direct path when it
    can."""

    def __init__(
        self, timeout_s: float, verify: ssl.SSLContext | bool, headers: dict[str, str]
    ) -> None:
        # httpx's own transports: they honour HTTP(S)_PROXY as httpx does (a transport
        # given here would turn that off)
        super().__init__(
            timeout=timeout_s, verify=verify, headers={"User-Agent": USER_AGENT, **headers}
        )
        # the direct path trusts what httpx trusts (certifi's CAs, or the agency's own)
        self._ssl = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._proxies: dict[tuple[str, str], str | None] = {}
        self._direct_headers = {"User-Agent": USER_AGENT, **headers}
        # as httpx's timeout becomes aiohttp's in the transport (per connect, per read), and
        # a bound on the whole exchange: an app that trickles its answer holds no batch
        self._direct_timeout = aiohttp.ClientTimeout(
            total=timeout_s * 3, sock_connect=timeout_s, sock_read=timeout_s, connect=timeout_s
        )

    def _aiohttp(self) -> aiohttp.ClientSession:
        """The direct path's aiohttp session (made in the running loop, on first use). Not
        trust_env: aiohttp would read ~/.netrc too, on a thread at every request, and send
        its credentials; proxies are read from the environment as httpx reads them."""
        if self._closed:
            raise RuntimeError("the client has been closed")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=100, keepalive_timeout=5.0)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def _proxy(self, url: str) -> str | None:
        """HTTP(S)_PROXY / NO_PROXY for this URL's scheme and host, read once per host."""
        parts = urllib.parse.urlsplit(url)
        where = (parts.scheme, parts.hostname or "")
        if where not in self._proxies:
            proxies = urllib.request.getproxies_environment()
            bypass = urllib.request.proxy_bypass_environment(where[1], proxies)
            self._proxies[where] = None if bypass else proxies.get(where[0])
        return self._proxies[where]

    async def post_direct(self, url: str, content: bytes, headers: dict[str, str]):
        """POST ``content``; the answer as an httpx.Response, read whole (up to
        MAX_ANSWER_BYTES), its body as the app sent it (httpx decodes gzip, as on its own
        path). Network failures raise httpx's errors, as through httpx."""
        with map_aiohttp_exceptions():
            try:
                async with self._aiohttp().post(
                    url,
                    data=content,
                    headers={**self._direct_headers, **headers},
                    allow_redirects=False,
                    auto_decompress=False,
                    proxy=self._proxy(url),
                    timeout=self._direct_timeout,
                ) as answer:
                    body = await _bounded(answer, url)
            except TimeoutError as exc:  # the whole exchange's time, not one read's
                if isinstance(exc, aiohttp.ClientError):
                    raise
                raise httpx.TimeoutException(f"no whole answer from {url} in time") from exc
        return DirectResponse(
            answer.status,
            headers=answer.raw_headers,
            content=body,
            extensions={"reason_phrase": (answer.reason or "").encode()},
            posted_to=url,
        )

    async def aclose(self) -> None:
        await super().aclose()
        await self._close_direct()

    async def __aexit__(self, *exc_info: Any) -> None:
        """httpx's own exit closes its transports, never calling aclose: the direct path's
        session is closed here too (else asyncio warns of it at every stop)."""
        try:
            await super().__aexit__(*exc_info)
        finally:
            await self._close_direct()

    async def _close_direct(self) -> None:
        self._closed = True
        if self._session is not None and not self._session.closed:
            await self._session.close()


class DirectResponse(httpx.Response):
    """An answer on the direct path: an httpx.Response whose request (its URL, for
    ``raise_for_status`` and ``.url``) is made only if a connector asks for it (making it
    for every answer costs ~20 us of CPU). A body sent without a Content-Encoding is the
    response's content as read, as httpx's own reading would leave it: passing it through
    httpx's decoders and chunker was a tenth of the direct path's CPU."""

    def __init__(
        self,
        status: int,
        *,
        headers: Any,
        content: bytes,
        extensions: dict[str, Any],
        posted_to: str,
    ) -> None:
        if any(name.lower() == b"content-encoding" for name, _ in headers):
            super().__init__(status, headers=headers, content=content, extensions=extensions)
        else:
            stream = httpx.ByteStream(content)
            super().__init__(status, headers=headers, stream=stream, extensions=extensions)
            self._content = content  # read, consumed and closed, as read() leaves it
            self.is_stream_consumed = self.is_closed = True
        self._posted_to = posted_to

    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            self._request = httpx.Request("POST", self._posted_to)
        return self._request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value


MAX_ANSWER_BYTES = 16 * 1024 * 1024  # an app's answer to one delivery; more is refused


async def _bounded(answer: aiohttp.ClientResponse, url: str) -> bytes:
    """The answer's body, refused (as a broken answer: retried, then a dead letter) past
    MAX_ANSWER_BYTES: an app cannot fill the hub's memory."""
    length = answer.content_length
    if length is not None and length > MAX_ANSWER_BYTES:
        raise httpx.ReadError(f"{url} answered {length:,} bytes: too large")
    if length is not None:  # aiohttp reads no more than the length said
        return await answer.read()
    chunks, size = [], 0
    async for chunk in answer.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise httpx.ReadError(f"{url} answered over {MAX_ANSWER_BYTES:,} bytes: too large")
        chunks.append(chunk)
    return b"".join(chunks)


def app_client(
    timeout_s: float,
    auth: BearerAuth | BasicAuth | HeaderAuth | None,
    tls: AppTls | None,
    instance: str = "?",
) -> AppClient:
    """An HTTP client for one agency app (AppClient). Raises ConnectorError for a secret
    that is not in the environment."""
    verify: ssl.SSLContext | bool = True
    if tls is not None:
        tls.check_files(instance)
        verify = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
        if tls.cert is not None:  # the key may be in the certificate's file
            verify.load_cert_chain(str(tls.cert), str(tls.key) if tls.key else None)
    options = auth.client_options() if auth is not None else {}
    return AppClient(timeout_s, verify, options.get("headers", {}))
