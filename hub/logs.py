"""Logging: readable lines for a person at a terminal, JSON lines for a log pipeline.

With ``LAPOR_HUB_LOG_JSON=1`` every line is one JSON object with time, level, logger and
message, plus ``hub_id`` (and ``connector``, ``agency``, ``stage``) when the line is about a
report: log with ``extra={"hub_id": ...}``. Reporters' names and contacts are never logged.
"""

from __future__ import annotations

import json
import logging
import os
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


def configure_logging(level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler()
    if os.environ.get("LAPOR_HUB_LOG_JSON") == "1":
        handler.setFormatter(JsonLines())
        level = logging.INFO
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("hub.librdkafka").setLevel(logging.ERROR)
