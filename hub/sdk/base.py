"""What a connector is: one class with class-level declarations and a few methods.

    class LaporJson(Connector):
        name = "lapor-json"
        title = "LAPOR!-style JSON REST API"
        capabilities = frozenset({Capability.PULL, Capability.DELIVER, Capability.STATUS})
        Config = LaporJsonConfig            # a pydantic model; secrets as SecretStr

        def to_report(self, raw): ...       # app format -> canonical Report
        def from_routed(self, routed): ...  # RoutedReport -> what the app takes
        async def pull(self, client, cursor): ...
        async def deliver(self, client, routed, idempotency_key): ...

The SDK owns the rest: retries with backoff, cursors kept in Kafka, webhook signatures,
idempotency keys, dead letters. A connector only says what failed: ``BadInput`` for input
it refuses (with the reason), ``UnusableAnswer`` for a page it cannot read,
``RetryableDeliveryError`` or ``PermanentDeliveryError`` for deliveries
(``raise_for_status`` in hub.sdk.http maps HTTP answers to them). Whatever else a
connector raises is contained by the SDK (hub.sdk.guard): on a record it is that record's
dead letter, on a page a back-off, on a delivery a retry; it never stops the hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from hub.errors import BadInput
from hub.sdk.access import AppAuth, AppTls


class Capability(StrEnum):
    PULL = "pull"  # the hub polls the app's API with a cursor
    PUSH = "push"  # the app posts to the hub's webhook
    FILE = "file"  # batch import of an export file
    DELIVER = "deliver"  # the hub delivers routed reports into the app
    STATUS = "status"  # the hub reads status updates back from the app
    FEEDBACK = "feedback"  # the hub tells the app what became of the reports it sent in


class ConnectorConfig(BaseModel):
    """Base of every connector's settings: the agency it speaks for, its app's address, and
    how the hub reaches the app (timeout, credentials, TLS)."""

    model_config = ConfigDict(extra="forbid")

    agency: str
    base_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=300)  # each request to the app
    auth: AppAuth | None = None  # how the hub proves itself to the app (hub.sdk.access)
    tls: AppTls | None = None  # a private CA, a client certificate


@dataclass(frozen=True)
class RawMessage:
    """One message as the app sent it: kept byte for byte on lapor.in.<connector>."""

    source_id: str
    body: bytes
    content_type: str = "application/json"
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PullPage:
    """One page an app answered. A bad item in it is a BadInput (its ``body`` the item's
    bytes), refused to the dead letters on its own while the page's good items go on and
    the cursor moves past it. A page that cannot be read at all is UnusableAnswer."""

    messages: list[RawMessage | BadInput]
    cursor: str | None  # where to continue next time (None: unchanged)


@dataclass(frozen=True)
class Delivered:
    """The app took a routed report; ``remote_id`` is its own id for it."""

    remote_id: str


class Connector:
    name: ClassVar[str]
    title: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    Config: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    content_type: ClassVar[str] = "application/json"
    max_body_bytes: ClassVar[int] = 256 * 1024

    def __init__(
        self, config: ConnectorConfig | dict[str, Any], instance: str | None = None
    ) -> None:
        self.config = config if isinstance(config, ConnectorConfig) else self.Config(**config)
        # One connector type may serve several apps (two cities' Open311): each instance has
        # its own name, which is in its topics (lapor.in.<instance>) and its reports' hub ids.
        self.instance = instance or self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.instance} agency={self.config.agency}>"

    # -- translation: pure functions, no I/O ----------------------------------------------

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        """The canonical Report for one raw message; raise BadInput with the reason."""
        raise NotImplementedError

    def from_routed(self, routed: dict[str, Any]) -> bytes:
        """What the app takes for a RoutedReport (its own format, as bytes)."""
        raise NotImplementedError

    def to_status(self, raw: RawMessage) -> dict[str, Any]:
        """A StatusUpdate from one status message of the app."""
        raise NotImplementedError

    # -- inbound sides -------------------------------------------------------------------

    async def pull(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        raise NotImplementedError

    def parse_push(self, body: bytes, headers: dict[str, str]) -> list[RawMessage | BadInput]:
        """Split a (signature-checked) webhook body into raw messages; a bad one in a batch
        is returned as BadInput so the good ones go on. Raise BadInput if the whole body is
        unusable."""
        raise NotImplementedError

    def read_file(self, data: bytes) -> Iterator[RawMessage | BadInput]:
        """Messages of an export file; a bad row is yielded as BadInput, the rest go on."""
        raise NotImplementedError

    # -- outbound sides ------------------------------------------------------------------

    async def deliver(
        self, client: httpx.AsyncClient, routed: dict[str, Any], idempotency_key: str
    ) -> Delivered:
        raise NotImplementedError

    async def poll_status(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        """Status messages of reports delivered to the app (turned into StatusUpdates by
        ``to_status``)."""
        raise NotImplementedError

    async def send_status(
        self,
        client: httpx.AsyncClient,
        update: dict[str, Any],
        source_id: str,
        idempotency_key: str,
    ) -> None:
        """Tell the origin app a StatusUpdate of the report it knows as ``source_id``
        (statuses of the agencies handling it, escalations, closing). Same errors as
        ``deliver``; the key is the update's id, the same on every attempt."""
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "title": cls.title,
            "capabilities": sorted(c.value for c in cls.capabilities),
            "config_schema": cls.Config.model_json_schema(),
        }
