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


def test_a_client_library_repeating_itself_is_held_back_and_counted() -> None:
    from hub.logs import Repeats

    now = [0.0]
    repeats = Repeats(window=10.0, clock=lambda: now[0])

    def line(name: str, msg: str, *args) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)

    refused = "Unable connect to node with id %s: %s"
    assert repeats.filter(line("aiokafka", refused, 1, "refused"))
    assert not any(repeats.filter(line("aiokafka", refused, 1, "refused")) for _ in range(500))
    assert repeats.filter(line("aiokafka", "another kind"))
    assert all(repeats.filter(line("hub.connect", "delivered %s", n)) for n in range(50))
    now[0] = 11.0
    again = line("aiokafka", refused, 1, "refused")
    assert repeats.filter(again)
    assert again.getMessage().endswith("(500 more like it since the last one)")
