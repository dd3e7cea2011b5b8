"""Logging: readable lines for a person at a terminal, JSON lines for a log pipeline.

With ``LAPOR_HUB_LOG_JSON=1`` every line is one JSON object with time, level, logger and
message, plus ``hub_id`` (and ``connector``, ``agency``, ``stage``) when the line is about a
report: log with ``extra={"hub_id": ...}``. Reporters' names and contacts are never logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime

FIELDS = ("hub_id", "connector", "agency", "stage")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class Repeats(logging.Filter):
    """Lets one line of each kind (logger, level, message template) through per ``window``
    seconds from the Kafka client libraries, then says how many it held back. While a
    broker is down aiokafka logs "Unable connect to node" ~30,000 times a second: a log
    an operator cannot read, and CPU the tracker needs. The hub's own lines pass."""

    def __init__(self, window: float = 10.0, clock=time.monotonic) -> None:
        super().__init__()
        self.window, self.clock = window, clock
        self._seen: dict[tuple, list] = {}  # kind -> [window start, lines held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("hub.") and record.name != "hub.librdkafka":
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen[0] < self.window:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} ({seen[1]} more like it since the last one)"
        self._seen[kind] = [now, 0]
        return True


def configure_logging(level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(Repeats())
    if os.environ.get("LAPOR_HUB_LOG_JSON") == "1":
        handler.setFormatter(JsonLines())
        level = logging.INFO
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("hub.librdkafka").setLevel(logging.ERROR)
