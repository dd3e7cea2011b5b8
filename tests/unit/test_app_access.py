"""The hub proves itself to an agency app the way its connector's settings say (a bearer
token, HTTP Basic, an API-key header, a client certificate), trusts the app's private CA,
keeps to the connector's timeout, and refuses to start when a secret's variable is unset.
Each against a real HTTPS or HTTP server on loopback."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from pydantic import ValidationError

from connectors.lapor_json import LaporJsonConfig
from hub.broker.tls import ensure_tls
from hub.errors import ConnectorError
from hub.sdk.access import app_client
from hub.sdk.http import post_to_app


@asynccontextmanager
async def app(handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """An agency app on a free loopback port; yields its base URL."""
    application = web.Application()
    application.router.add_get("/reports", handler)
    application.router.add_post("/reports", handler)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def settings(**given) -> LaporJsonConfig:
    return LaporJsonConfig(agency="pemprov-jateng", base_url="http://127.0.0.1:9", **given)


async def status_with(config: LaporJsonConfig, handler, tls=None, direct=False) -> int:
    """The app's answer to a GET through httpx, or (``direct``) to a delivery's POST on
    the client's direct path (hub.sdk.http.post_to_app): both keep to the same settings."""
    async with (
        app(handler, tls) as url,
        app_client(config.timeout_s, config.auth, config.tls) as client,
    ):
        if direct:
            return (await post_to_app(client, f"{url}/reports", b"{}", {"X-Test": "1"})).status_code
        return (await client.get(f"{url}/reports")).status_code


PATHS = pytest.mark.parametrize("direct", [False, True], ids=["httpx", "direct"])


def asking(header: str, value: str):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=200 if request.headers.get(header) == value else 401)

    return handler


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        ({"type": "bearer", "token_env": "JATENG_TOKEN"}, "Authorization", "Bearer s3cret"),
        (
            {"type": "basic", "username": "lapor-hub", "password_env": "JATENG_TOKEN"},
            "Authorization",
            "Basic bGFwb3ItaHViOnMzY3JldA==",  # lapor-hub:s3cret
        ),
        (
            {"type": "header", "name": "X-API-Key", "value_env": "JATENG_TOKEN"},
            "X-API-Key",
            "s3cret",
        ),
    ],
)
@PATHS
def test_the_app_gets_the_credential_the_settings_name(monkeypatch, auth, header, value, direct):
    monkeypatch.setenv("JATENG_TOKEN", "s3cret")
    given = status_with(settings(auth=auth), asking(header, value), direct=direct)
    assert asyncio.run(given) == 200
    none = status_with(settings(), asking(header, value), direct=direct)
    assert asyncio.run(none) == 401  # none sent


def test_a_secret_file_s_line_break_is_dropped_and_a_control_character_refused(monkeypatch):
    monkeypatch.setenv("JATENG_TOKEN", "s3cret\n")  # kubectl create secret --from-file
    config = settings(auth={"type": "bearer", "token_env": "JATENG_TOKEN"})
    assert asyncio.run(status_with(config, asking("Authorization", "Bearer s3cret"))) == 200
    monkeypatch.setenv("JATENG_TOKEN", "s3c\nret")
    with pytest.raises(ConnectorError, match="control character") as refused:
        app_client(config.timeout_s, config.auth, config.tls)
    assert "s3c" not in refused.value.message


def test_a_secret_whose_variable_is_unset_stops_the_start_with_its_name(monkeypatch):
    monkeypatch.delenv("JATENG_TOKEN", raising=False)
    config = settings(auth={"type": "bearer", "token_env": "JATENG_TOKEN"})
    with pytest.raises(ConnectorError) as refused:
        app_client(config.timeout_s, config.auth, config.tls)
    assert "JATENG_TOKEN" in refused.value.message and "JATENG_TOKEN" in refused.value.fix


def test_settings_that_cannot_work_are_refused_when_read(tmp_path: Path):
    with pytest.raises(ValidationError, match="token_env"):
        settings(auth={"type": "bearer"})
    missing = settings(tls={"ca": str(tmp_path / "missing.pem")})  # read, not yet used
    with pytest.raises(ConnectorError, match=r"missing\.pem is not there"):
        app_client(missing.timeout_s, missing.auth, missing.tls, "pemprov-jateng")
    with pytest.raises(ValidationError):
        settings(auth={"type": "kerberos"})
    with pytest.raises(ValidationError):
        settings(timeout_s=0)


@PATHS
def test_a_private_ca_is_trusted_and_a_client_certificate_shown(tmp_path: Path, direct):
    """The app's certificate is signed by the agency's own CA; it asks the hub for a
    certificate signed by the CA it trusts for the hub (mutual TLS)."""
    agency, hub = ensure_tls(tmp_path / "agency"), ensure_tls(tmp_path / "hub")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(agency.keystore)
    server.load_verify_locations(hub.ca)
    server.verify_mode = ssl.CERT_REQUIRED

    async def ok(request: web.Request) -> web.Response:
        return web.Response(status=200)

    mutual = settings(tls={"ca": str(agency.ca), "cert": str(hub.keystore)})
    assert asyncio.run(status_with(mutual, ok, server, direct)) == 200

    without_certificate = settings(tls={"ca": str(agency.ca)})
    with pytest.raises(httpx.TransportError):
        asyncio.run(status_with(without_certificate, ok, server, direct))
    system_trust = settings(tls={"cert": str(hub.keystore)})
    with pytest.raises(httpx.TransportError):  # the agency's CA is not the system's
        asyncio.run(status_with(system_trust, ok, server, direct))


@PATHS
def test_each_request_keeps_to_the_connectors_timeout(direct):
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(status=200)

    with pytest.raises(httpx.TimeoutException):
        asyncio.run(status_with(settings(timeout_s=0.5), slow, direct=direct))


def test_the_direct_path_answers_as_httpx_would():
    """A delivery's answer read the same on both paths: status, reason, headers, body; an
    app that cannot be reached is httpx's TransportError (retried, hub.sdk.http)."""

    async def created(request: web.Request) -> web.Response:
        assert request.headers["Idempotency-Key"] == "h-1:kemenkes"
        assert request.headers["User-Agent"] == "lapor-hub"
        assert await request.read() == b'{"judul": "jalan"}'
        return web.json_response({"tracking_id": "LPR-9"}, status=201, headers={"X-App": "1"})

    async def both() -> list[tuple]:
        async with app(created) as url, app_client(5, None, None) as client:
            headers = {"Content-Type": "application/json", "Idempotency-Key": "h-1:kemenkes"}
            answers = [
                await client.post(f"{url}/reports", content=b'{"judul": "jalan"}', headers=headers),
                await post_to_app(client, f"{url}/reports", b'{"judul": "jalan"}', headers),
            ]
            return [
                (
                    a.status_code,
                    a.reason_phrase,
                    a.headers["x-app"],
                    a.json(),
                    a.is_success,
                    a.url.path,  # its request, as httpx's answers carry theirs
                )
                for a in answers
            ]

    through_httpx, direct = asyncio.run(both())
    answer = (201, "Created", "1", {"tracking_id": "LPR-9"}, True, "/reports")
    assert direct == through_httpx == answer

    async def unreachable() -> None:
        async with app_client(5, None, None) as client:
            await post_to_app(client, "http://127.0.0.1:9/reports", b"{}", {})

    with pytest.raises(httpx.TransportError):
        asyncio.run(unreachable())


@PATHS
def test_an_agency_reached_through_a_proxy_is_reached_on_both_paths(monkeypatch, direct):
    """A government network's forward proxy, named in HTTP_PROXY as httpx and aiohttp both
    read it: the delivery's direct POST goes through it as httpx's requests do."""
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))  # a forward proxy is asked for the absolute URL
        return web.Response(status=201)

    async def through_proxy() -> int:
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", proxy)
        runner = web.AppRunner(application)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "")
        try:
            async with app_client(5, None, None) as client:
                url = "http://lapor.agency.invalid/reports"
                if direct:
                    return (await post_to_app(client, url, b"{}", {})).status_code
                return (await client.post(url, content=b"{}")).status_code
        finally:
            await runner.cleanup()

    for variable in ("http_proxy", "no_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    assert asyncio.run(through_proxy()) == 201
    assert seen and "lapor.agency.invalid/reports" in seen[0]


def test_a_compressed_answer_is_read_once_and_an_endless_one_refused(monkeypatch):
    """An app that gzips its answer is read as through httpx (decoded once); one whose
    answer passes the limit is refused as a broken answer, whatever it says its length is."""
    import gzip
    import json

    from hub.sdk import access

    async def gzipped(request: web.Request) -> web.Response:
        body = gzip.compress(json.dumps({"tracking_id": "LPR-7"}).encode())
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=body, headers=headers, status=201)

    async def huge(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(status=200)
        answer.enable_chunked_encoding()  # no length said
        await answer.prepare(request)
        for _ in range(8):
            await answer.write(b"x" * 1000)
        return answer

    async def read(handler) -> object:
        async with app(handler) as url, app_client(5, None, None) as client:
            return await post_to_app(client, f"{url}/reports", b"{}", {})

    assert asyncio.run(read(gzipped)).json() == {"tracking_id": "LPR-7"}
    monkeypatch.setattr(access, "MAX_ANSWER_BYTES", 4000)
    with pytest.raises(httpx.ReadError, match="too large"):
        asyncio.run(read(huge))


def test_leaving_the_client_closes_the_direct_paths_session_too():
    """`async with app_client(...)` (how the hub holds its clients) closes the aiohttp
    session of the direct path, not only httpx's transports."""

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def used() -> object:
        async with app(ok) as url, app_client(5, None, None) as client:
            await post_to_app(client, f"{url}/reports", b"{}", {})
            session = client._session
            assert session is not None and not session.closed
        return session

    assert asyncio.run(used()).closed
