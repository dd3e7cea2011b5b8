"""The hub reaches a Schema Registry that asks for credentials over TLS with a private CA:
SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD are sent as HTTP Basic, and
SCHEMA_REGISTRY_CA is trusted. Against a real HTTPS server on loopback."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hub.broker.tls import ensure_tls
from hub.errors import HubError
from hub.serialization import registry_client
from hub.settings import Settings

EXPECTED = "Basic " + base64.b64encode(b"lapor-hub:s3cret").decode()


class Registry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        allowed = self.headers.get("Authorization") == EXPECTED
        body = json.dumps(["lapor.reports-value"] if allowed else {"error_code": 40101})
        self.send_response(200 if allowed else 401)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    files = ensure_tls(tmp_path / "registry")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.keystore)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", files.ca
    finally:
        server.shutdown()


def settings(url: str, **given) -> Settings:
    return Settings(SCHEMA_REGISTRY_URL=url, **given)


def test_credentials_and_the_private_ca_reach_the_registry(registry) -> None:
    url, ca = registry
    client = registry_client(
        settings(
            url,
            SCHEMA_REGISTRY_USERNAME="lapor-hub",
            SCHEMA_REGISTRY_PASSWORD="s3cret",
            SCHEMA_REGISTRY_CA=str(ca),
        )
    )
    assert client.get_subjects() == ["lapor.reports-value"]


def test_without_credentials_or_the_ca_the_registry_refuses(registry) -> None:
    url, ca = registry
    with pytest.raises(Exception, match=r"401|40101"):
        registry_client(settings(url, SCHEMA_REGISTRY_CA=str(ca))).get_subjects()
    with pytest.raises(Exception, match=r"(?i)certificate|ssl"):
        registry_client(
            settings(url, SCHEMA_REGISTRY_USERNAME="lapor-hub", SCHEMA_REGISTRY_PASSWORD="s3cret")
        ).get_subjects()


def test_a_user_without_a_password_is_refused_before_any_request() -> None:
    with pytest.raises(HubError, match="SCHEMA_REGISTRY_PASSWORD"):
        registry_client(settings("https://127.0.0.1:9", SCHEMA_REGISTRY_USERNAME="lapor-hub"))
