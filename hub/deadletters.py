"""Dead letters: the original key, value and headers byte for byte, plus why and where.

Headers follow Kafka Connect's ``__connect.errors.*`` conventions where they fit (topic,
partition, offset, connector name, exception class, message, stack trace) and add the stage,
the attempt count and the first and last failure times.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Message

from hub import topics
from hub.errors import BadInput


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


def dead_letter(msg: Message, stage: str, connector: str, error: Exception) -> DeadLetter:
    now = datetime.now(UTC).isoformat().encode()
    reason = error.reason if isinstance(error, BadInput) else str(error)
    headers = {k: v or b"" for k, v in (msg.headers() or [])}
    attempts = int(headers.get("lapor.errors.attempts", b"0") or 0) + 1
    headers.update(
        {
            "__connect.errors.topic": (msg.topic() or "").encode(),
            "__connect.errors.partition": str(msg.partition()).encode(),
            "__connect.errors.offset": str(msg.offset()).encode(),
            "__connect.errors.stage": stage.encode(),
            "__connect.errors.connector.name": connector.encode(),
            "__connect.errors.exception.class.name": type(error).__name__.encode(),
            "__connect.errors.exception.message": reason.encode()[:2000],
            "__connect.errors.exception.stacktrace": "".join(
                traceback.format_exception_only(type(error), error)
            )[-1000:].encode(),
            "lapor.errors.attempts": str(attempts).encode(),
            "lapor.errors.first-failure": headers.get("lapor.errors.first-failure") or now,
            "lapor.errors.last-failure": now,
        }
    )
    return DeadLetter(topics.dead_letter(stage), msg.key(), msg.value() or b"", headers)
