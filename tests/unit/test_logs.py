"""JSON log lines carry the report's hub id, and never the reporter's identity."""

import json
import logging

from hub.logs import JsonLines


def test_a_line_about_a_report_carries_its_hub_id() -> None:
    record = logging.LogRecord(
        "hub.connect",
        logging.INFO,
        __file__,
        1,
        "delivered to %s as %s",
        ("pemkot-surabaya", "INS-1"),
        None,
    )
    record.hub_id, record.agency, record.stage = "5c9e0476", "pemkot-surabaya", "deliver"
    line = json.loads(JsonLines().format(record))
    assert line["hub_id"] == "5c9e0476" and line["stage"] == "deliver"
    assert line["message"] == "delivered to pemkot-surabaya as INS-1"
    assert line["level"] == "info" and line["time"].endswith("+00:00")
