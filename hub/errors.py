"""The hub's exceptions, one tree.

Every message is a full sentence: what happened, the likely cause, what to do.
Errors from Java, Maven, Kafka clients and other dependencies are translated into
these at the boundary (``raise ... from exc``), so callers catch one family.

    HubError
    ├── SetupError                 the machine lacks something the hub needs
    │   ├── JavaNotFound
    │   ├── MavenNotFound
    │   └── MavenCentralUnreachable
    ├── SchemaError                a schema file is invalid or cannot be found
    │   ├── SchemaNotFound
    │   └── IncompatibleSchema     a new version breaks readers or writers of an older one
    ├── RulesError                 routing rules or the agency directory are invalid
    ├── ConnectorError             a connector cannot be found, configured or used
    │   ├── ConnectorNotFound
    │   ├── BadInput               an app sent something the hub refuses (with the reason)
    │   ├── UnusableAnswer         an app answered a whole page the hub cannot read
    │   ├── RetryableDeliveryError the app is down or busy: try again later
    │   └── PermanentDeliveryError the app refused the delivery: retrying will not help
    ├── SerializationError         a value does not fit its schema (nothing is written)
    ├── DeserializationError       bytes that no known schema version can read
    └── BrokerError                the local Kafka broker cannot do what was asked
        ├── PortInUse
        ├── DataDirMismatch        formatted by another Kafka version or cluster id
        ├── BrokerStartFailed
        ├── BrokerNotReachable
        └── TopicMismatch          an existing topic differs from what the hub needs
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error lapor-hub raises on purpose.

    ``fix`` is the one line a user should act on; the CLI prints it after the cause.
    """

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}" if self.fix else self.message


class SetupError(HubError):
    """A tool or network path the hub needs is missing on this machine."""


class JavaNotFound(SetupError):
    pass


class MavenNotFound(SetupError):
    pass


class MavenCentralUnreachable(SetupError):
    pass


class SchemaError(HubError):
    """A schema file is missing, malformed, or breaks compatibility."""


class SchemaNotFound(SchemaError):
    pass


class IncompatibleSchema(SchemaError):
    pass


class RulesError(HubError):
    """Routing rules, cases or the agency directory are invalid; the message lists every
    problem with its file and line."""


class ConnectorError(HubError):
    """A connector is unknown, misconfigured, or its app misbehaved."""


class ConnectorNotFound(ConnectorError):
    pass


class BadInput(ConnectorError):
    """Input from an agency app refused: ``reason`` is what the app (or operator) is told.

    Permanent: the same bytes will be refused again. A pushing app gets a 4xx with the
    reason; a pulled or batch message goes to the dead-letter topic with it.
    """

    def __init__(self, reason: str, status: int = 400, body: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body  # the refused item itself, where it is one of several (kept whole)


class UnusableAnswer(ConnectorError):
    """An app answered a pull or status poll with something the hub cannot read as a page
    (an HTML maintenance page, a JSON shape it does not have, a connector that failed on
    it). Not the record's fault: the side backs off and asks again, its cursor unmoved."""


class RetryableDeliveryError(ConnectorError):
    """The app could not take the delivery now (5xx, 429, timeout, connection refused)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(ConnectorError):
    """The app refused the delivery (4xx other than 408/429): retrying will not help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SerializationError(HubError):
    """A value was refused because it does not fit its schema; nothing was written."""


class DeserializationError(HubError):
    """Bytes could not be decoded: wrong format, unknown schema, or truncated data."""


class BrokerError(HubError):
    """The local Kafka broker could not be started, reached or stopped."""


class PortInUse(BrokerError):
    pass


class DataDirMismatch(BrokerError):
    pass


class BrokerStartFailed(BrokerError):
    pass


class BrokerNotReachable(BrokerError):
    pass


class TopicMismatch(BrokerError):
    pass
