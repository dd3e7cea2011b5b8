"""Each hostile input found by probing the connectors is refused with a reason that says
what was wrong, and nothing else escapes: BadInput for an item, UnusableAnswer for a page,
RetryableDeliveryError for a delivery answer that cannot be read."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.csv_export import CsvExport
from connectors.declarative import Declarative
from connectors.lapor_json import LaporJson
from connectors.open311 import Open311
from connectors.sms1708 import Sms1708, parse_sms
from connectors.soap_ministry import SoapMinistry, envelope
from hub.errors import BadInput, RetryableDeliveryError, UnusableAnswer
from hub.sdk import (
    RawMessage,
    check_control_characters,
    new_report,
    new_status,
    page_messages,
    parse_json,
    parse_xml,
)

BASE = "http://app.test"
LAPOR = {"agency": "kemenpan-rb", "base_url": BASE}
DINAS = {
    "agency": "pemkot-bandung",
    "base_url": BASE,
    "mapping": "connectors/declarative/examples/dinas-json.yaml",
}
GOOD_LAPOR = {"tracking_id": "LPR-1", "isi": "Jalan rusak", "dibuat_pada": "2026-11-20T08:00:00Z"}


def js(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def answering(connector, call, status: int = 200, **answer):
    """``call(connector, client)`` against an app that answers every request the same way."""

    async def run():
        transport = httpx.MockTransport(lambda request: httpx.Response(status, **answer))
        async with httpx.AsyncClient(transport=transport) as client:
            return await call(connector, client)

    return asyncio.run(run())


def routed() -> dict[str, Any]:
    report = LaporJson(LAPOR).to_report(RawMessage("LPR-1", js(GOOD_LAPOR)))
    return {"report": report, "decision": {"destinations": [], "reason": "test"}}


def refused(error: type[Exception], call, *words: str) -> str:
    with pytest.raises(error) as caught:
        call()
    reason = str(caught.value)
    for word in words:
        assert word in reason, reason
    return reason


# -- the SDK's readers -------------------------------------------------------------------


def test_json_nested_thousands_of_levels_deep_is_refused_without_recursion_error() -> None:
    for depth in (65, 5000, 200_000):
        deep = b"[" * depth + b"]" * depth
        refused(BadInput, lambda deep=deep: parse_json(deep), "nested deeper than 64")
    deep_objects = b'{"a":' * 5000 + b"1" + b"}" * 5000
    refused(BadInput, lambda: parse_json(deep_objects), "nested deeper")
    assert parse_json(b"[" * 64 + b"]" * 64) is not None
    assert parse_json(js({"text": "[[[[" * 100})) == {"text": "[[[[" * 100}, "brackets in text"


def test_nan_and_infinity_are_not_json_numbers() -> None:
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        refused(BadInput, lambda c=constant: parse_json(b'{"lat": ' + c + b"}"), "not a JSON")
    refused(BadInput, lambda: parse_json(b"[1e400]"), "too large")


def test_a_key_given_twice_is_refused_by_name() -> None:
    refused(BadInput, lambda: parse_json(b'{"isi": "a", "isi": "b"}'), "'isi'", "more than once")
    assert parse_json(b'{"a": {"x": 1}, "b": {"x": 2}}') == {"a": {"x": 1}, "b": {"x": 2}}


def test_json_over_the_callers_limit_is_refused_with_its_size() -> None:
    body = js("a" * 2000)
    refused(BadInput, lambda: parse_json(body, limit=1000), "2,002 bytes", "1,000-byte limit")
    assert parse_json(body, limit=4000) == "a" * 2000
    refused(BadInput, lambda: parse_json(b"[" + b"1," * 600_000 + b"1]"), "1,048,576-byte limit")


def test_numbers_with_too_many_digits_and_lone_surrogates_are_refused() -> None:
    refused(BadInput, lambda: parse_json(b"1" * 5000), "too many digits")
    refused(BadInput, lambda: parse_json(b'{"isi": "\\ud800"}'), "without its pair")
    assert parse_json(b'"\\ud83d\\ude4f"') == "🙏"


def test_xml_deeper_than_the_limit_is_refused() -> None:
    deep = b"<a>" * 5000 + b"</a>" * 5000
    refused(BadInput, lambda: parse_xml(deep), "XML nested deeper than 64")
    assert parse_xml(b"<a>" * 64 + b"</a>" * 64).tag == "a"


def test_control_characters_in_text_are_refused_with_their_place() -> None:
    refused(BadInput, lambda: check_control_characters("ok\x1b[2J", "pesan"), "U+001B", "pesan")
    refused(BadInput, lambda: check_control_characters("a\x7f", "pesan"), "U+007F")
    assert check_control_characters("baris\tsatu\r\ndua", "pesan") == "baris\tsatu\r\ndua"


def test_page_items_without_a_usable_id_are_refused_alone_with_their_bytes() -> None:
    items = [{"id": "A"}, 1, {"id": True}, {"id": 1.5}, {"id": {"x": 1}}, {"id": ""}, {}, {"id": 7}]
    messages = page_messages(items, "id", "the app")
    good = [m for m in messages if isinstance(m, RawMessage)]
    bad = [m for m in messages if isinstance(m, BadInput)]
    assert [m.source_id for m in good] == ["A", "7"]
    assert [m.body for m in bad] == [js(i) for i in items[1:7]], "each refused item kept whole"
    assert "item #2" in bad[0].reason and "not an object" in bad[0].reason
    assert "id must be text or a whole number, not true" in bad[1].reason
    assert "missing its id" in bad[5].reason
    refused(UnusableAnswer, lambda: page_messages({"id": "A"}, "id", "the app"), "list of items")


# -- the canonical model -----------------------------------------------------------------


def report(**fields: Any) -> dict[str, Any]:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    values = {
        "connector": "c",
        "agency": "a",
        "source_id": "S-1",
        "channel": "WEB",
        "kind": "COMPLAINT",
        "title": "Judul",
        "body": "Isi",
        "submitted_at": now,
        "received_at": now,
    }
    return new_report(**{**values, **fields})


def test_a_list_given_for_a_text_field_is_refused_not_turned_into_text() -> None:
    refused(BadInput, lambda: report(title=["a"]), "title must be text, not a list of 1 item")
    refused(BadInput, lambda: report(address={"x": 1}), "location.address must be text")
    refused(BadInput, lambda: report(reporter={"phone": 812}), "reporter.phone must be text")
    refused(BadInput, lambda: report(latitude="-7.2"), "location.latitude must be a number")
    refused(BadInput, lambda: report(latitude=True), "location.latitude must be a number")
    refused(BadInput, lambda: report(longitude=float("nan")), "location.longitude")
    refused(BadInput, lambda: report(reporter={"anonymous": "ya"}), "reporter.anonymous")
    refused(BadInput, lambda: report(kind=["COMPLAINT"]), "unknown kind")
    refused(BadInput, lambda: report(source_id=True), "source_id must be text")
    refused(BadInput, lambda: report(extra={"rt": 3}), "extra.rt must be text")
    refused(BadInput, lambda: report(attachments=[{"url": ["x"]}]), "attachments[0].url")


def test_a_field_over_its_limit_is_refused_with_its_name_and_size() -> None:
    refused(BadInput, lambda: report(body="a" * 20_000_000), "body is 20,000,000 bytes", "65,536")
    refused(BadInput, lambda: report(title="é" * 600), "title is 1,200 bytes", "1,024")
    refused(BadInput, lambda: report(address="a" * 5000), "location.address is 5,000 bytes")
    refused(BadInput, lambda: report(extra={f"k{n}": "v" * 60_000 for n in range(5)}), "extra is")
    refused(BadInput, lambda: report(attachments=[{"url": "u"}] * 101), "101 attachments")
    assert report(body="a" * 65_536)["body"] == "a" * 65_536


def test_text_people_read_has_no_control_characters() -> None:
    refused(
        BadInput, lambda: report(body="jalan\x00rusak"), "body has the control character U+0000"
    )
    refused(BadInput, lambda: report(title="\x1b[2J"), "title has the control character U+001B")
    refused(BadInput, lambda: report(reporter={"name": "A\x7f"}), "reporter.name")
    assert report(body="baris satu\r\n\tbaris dua")["body"] == "baris satu\r\n\tbaris dua"


def test_statuses_are_checked_as_strictly() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    status = {"hub_id": "h", "agency": "a", "status": "RESOLVED", "occurred_at": now}
    refused(BadInput, lambda: new_status(**status, source_status=["x"]), "source_status")
    refused(
        BadInput, lambda: new_status(**{**status, "hub_id": ["h"]}, source_status=None), "hub_id"
    )
    refused(
        BadInput, lambda: new_status(**status, source_status=None, message="m" * 20_000), "16,384"
    )
    assert new_status(**status, source_status="selesai")["status"] == "RESOLVED"


# -- lapor-json ------------------------------------------------------------------------


def test_lapor_title_given_as_a_list_is_refused() -> None:
    raw = RawMessage("LPR-1", js({**GOOD_LAPOR, "judul": ["a"]}))
    refused(BadInput, lambda: LaporJson(LAPOR).to_report(raw), "title must be text")


def test_lapor_report_with_a_20_mb_body_is_refused() -> None:
    raw = RawMessage("LPR-1", js({**GOOD_LAPOR, "isi": "a" * 20_000_000}))
    refused(BadInput, lambda: LaporJson(LAPOR).to_report(raw), "1,048,576-byte limit")
    raw = RawMessage("LPR-1", js({**GOOD_LAPOR, "isi": "a" * 100_000}))
    refused(BadInput, lambda: LaporJson(LAPOR).to_report(raw), "body is 100,000 bytes")


def test_lapor_status_that_is_not_an_object_is_refused() -> None:
    refused(BadInput, lambda: LaporJson(LAPOR).to_status(RawMessage("1", b"[1]")), "JSON object")


def test_lapor_page_with_a_number_for_an_item_refuses_that_item_alone() -> None:
    page = answering(
        LaporJson(LAPOR),
        lambda c, client: c.pull(client, None),
        json={"data": [1, {"tracking_id": "LPR-2"}], "kursor_berikut": 2},
    )
    assert isinstance(page.messages[0], BadInput) and page.messages[0].body == b"1"
    assert "the number 1, not an object" in page.messages[0].reason
    assert page.messages[1].source_id == "LPR-2" and page.cursor == "2"


def test_one_odd_item_of_a_lapor_page_is_refused_alone_never_the_page() -> None:
    """NaN, a key twice, 5,000 levels, bytes that are no UTF-8: each item is its own (and
    its translation refuses what is wrong inside), the page and the items after it go on."""
    deep = "[" * 5000 + "]" * 5000
    items = [
        b'{"tracking_id": "NAN", "isi": NaN, "dibuat_pada": "2026-11-20"}',
        b'{"tracking_id": "DUP", "isi": "a", "isi": "b", "dibuat_pada": "2026-11-20"}',
        b'{"tracking_id": "DEEP", "isi": "x", "lain": ' + deep.encode() + b"}",
        b'{"tracking_id": "BYTES", "isi": "caf\xe9"}',
        b'{"tracking_id": "TWICE", "tracking_id": "LAGI"}',
        b'{"tracking_id": "OK", "isi": "Jalan rusak", "dibuat_pada": "2026-11-20"}',
    ]
    content = b'{"data": [' + b", ".join(items) + b'], "kursor_berikut": "6"}'
    connector = LaporJson(LAPOR)
    page = answering(connector, lambda c, client: c.pull(client, None), content=content)
    assert page.cursor == "6" and [m.body for m in page.messages] == items, "kept byte for byte"
    nan, dup, deep_one, not_utf8, twice, good = page.messages
    assert isinstance(not_utf8, BadInput) and "not valid UTF-8" in not_utf8.reason
    assert isinstance(twice, BadInput) and "tracking_id is given 2 times" in twice.reason
    for message, words in ((nan, "NaN"), (dup, "more than once"), (deep_one, "nested deeper")):
        assert isinstance(message, RawMessage)
        refused(BadInput, lambda m=message: connector.to_report(m), words)
    assert connector.to_report(good)["source"]["source_id"] == "OK"


def test_a_lapor_page_whose_frame_is_broken_is_an_unusable_answer() -> None:
    for content, words in (
        (b'{"data": [{"tracking_id": "A"} {"tracking_id": "B"}]}', "',' or ']' was due"),
        (b'{"data": [{"tracking_id": "A"}', "does not end"),
        (b'{"data": [], "data": []}', "data is given 2 times"),
        (b'{"data": ["tanpa akhir]}', "does not end"),
        (b'"Sedang pemeliharaan"', "it is the text"),
    ):
        refused(
            UnusableAnswer,
            lambda content=content: answering(
                LaporJson(LAPOR), lambda c, client: c.pull(client, None), content=content
            ),
            words,
        )


def test_lapor_html_maintenance_page_is_an_unusable_answer() -> None:
    html = "<!DOCTYPE html><html><body>Sedang pemeliharaan</body></html>"
    for side in ("pull", "poll_status"):
        refused(
            UnusableAnswer,
            lambda side=side: answering(
                LaporJson(LAPOR),
                lambda c, client: getattr(c, side)(client, None),
                text=html,
                headers={"content-type": "text/html"},
            ),
            "not a page of JSON",
            "text/html",
            "<!DOCTYPE html>",
        )


def test_lapor_page_of_the_wrong_shape_is_an_unusable_answer() -> None:
    for answer, words in (
        ([1, 2], "a list of 2 items where a page object"),
        ({"data": {"tracking_id": "A"}}, "without its list of items"),
        ({"data": [], "kursor_berikut": {"x": 1}}, "kursor_berikut"),
    ):
        refused(
            UnusableAnswer,
            lambda answer=answer: answering(
                LaporJson(LAPOR), lambda c, client: c.pull(client, None), json=answer
            ),
            words,
        )


def test_lapor_delivery_answered_200_without_tracking_id_is_retried() -> None:
    for answer in ({"ok": True}, [], {"tracking_id": None}, {"tracking_id": {"id": 1}}):
        refused(
            RetryableDeliveryError,
            lambda answer=answer: answering(
                LaporJson(LAPOR),
                lambda c, client: c.deliver(client, routed(), "key"),
                json=answer,
            ),
            "tracking_id",
            "idempotency key",
        )
    refused(
        RetryableDeliveryError,
        lambda: answering(
            LaporJson(LAPOR), lambda c, client: c.deliver(client, routed(), "k"), text="OK"
        ),
        "JSON answer",
    )


# -- open311 ---------------------------------------------------------------------------


def test_open311_item_without_service_request_id_is_refused_alone() -> None:
    page = answering(
        Open311(LAPOR),
        lambda c, client: c.pull(client, None),
        content=b'[{"description": "tanpa id"},\n {"service_request_id": 9, "description": "x"}]',
    )
    first, second = page.messages
    assert isinstance(first, BadInput) and "missing its id (service_request_id)" in first.reason
    assert first.body == b'{"description": "tanpa id"}', "the app's own bytes"
    assert (
        second.source_id == "9" and second.body == b'{"service_request_id": 9, "description": "x"}'
    )


def test_open311_xml_page_with_foreign_elements() -> None:
    xml = Open311({**LAPOR, "format": "xml"})
    page = answering(
        xml,
        lambda c, client: c.pull(client, None),
        content=b"<service_requests><request><description>x</description></request><iklan/>"
        b"<request><service_request_id>7</service_request_id></request></service_requests>",
    )
    reasons = [m.reason for m in page.messages if isinstance(m, BadInput)]
    assert "missing its id" in reasons[0] and "'iklan' is no <request>" in reasons[1]
    assert [m.source_id for m in page.messages if isinstance(m, RawMessage)] == ["7"]
    refused(
        UnusableAnswer,
        lambda: answering(xml, lambda c, client: c.pull(client, None), content=b"<html/>"),
        "<service_requests> was due",
    )


def test_open311_delivery_answer_without_the_request_id_is_retried() -> None:
    for connector, answer in (
        (Open311(LAPOR), {"json": []}),
        (Open311(LAPOR), {"json": [{"token": "t"}]}),
        (Open311({**LAPOR, "format": "xml"}), {"content": b"<service_requests/>"}),
        (Open311({**LAPOR, "format": "xml"}), {"content": b"<service_requests"}),
    ):
        refused(
            RetryableDeliveryError,
            lambda c=connector, a=answer: answering(
                c, lambda c, client: c.deliver(client, routed(), "k"), **a
            ),
            "Open311 endpoint answered HTTP 200 without",
        )


def test_open311_coordinates_and_names_of_the_wrong_type() -> None:
    base = {"service_request_id": "1", "description": "d", "requested_datetime": "2026-11-20"}
    connector = Open311(LAPOR)
    refused(
        BadInput,
        lambda: connector.to_report(RawMessage("1", js({**base, "lat": "utara"}))),
        "lat (the latitude) must be a number",
    )
    refused(
        BadInput,
        lambda: connector.to_report(RawMessage("1", js({**base, "first_name": ["a"]}))),
        "first_name must be text",
    )
    assert connector.to_report(RawMessage("1", js({**base, "lat": "-7.2"})))["location"][
        "latitude"
    ] == pytest.approx(-7.2)


# -- declarative -----------------------------------------------------------------------


def test_declarative_item_without_an_id_is_refused_not_given_an_object_repr() -> None:
    page = answering(
        Declarative(DINAS),
        lambda c, client: c.pull(client, None),
        json={"data": [{"message": "tanpa id"}, {"id": "D-2"}], "meta": {"next": 2}},
    )
    first, second = page.messages
    assert isinstance(first, BadInput) and "missing its id (id)" in first.reason
    assert "object at 0x" not in first.reason and first.body == b'{"message":"tanpa id"}'
    assert second.source_id == "D-2" and page.cursor == "2"
    refused(
        UnusableAnswer,
        lambda: answering(
            Declarative(DINAS), lambda c, client: c.pull(client, None), json={"items": []}
        ),
        "without its list of items at data: found nothing",
    )


def test_declarative_delivery_answer_without_the_id_is_retried() -> None:
    refused(
        RetryableDeliveryError,
        lambda: answering(
            Declarative(DINAS),
            lambda c, client: c.deliver(client, routed(), "k"),
            status=201,
            json={"ok": True},
        ),
        "without ticket",
    )


# -- soap-ministry ---------------------------------------------------------------------


def test_soap_urutan_that_is_no_number_is_refused_alone() -> None:
    body = envelope(
        "AmbilPengaduanResponse",
        "<Pengaduan><Urutan>abc</Urutan><NomorAgenda>AG/1</NomorAgenda></Pengaduan>"
        "<Pengaduan><Urutan>7</Urutan><NomorAgenda>AG/2</NomorAgenda></Pengaduan>",
    )
    page = answering(SoapMinistry(LAPOR), lambda c, client: c.pull(client, "3"), content=body)
    first, second = page.messages
    assert isinstance(first, BadInput) and "Urutan must be a sequence number, not 'abc'" in (
        first.reason
    )
    assert b"AG/1" in first.body and second.source_id == "AG/2" and page.cursor == "7"


def test_soap_answers_that_are_not_xml() -> None:
    soap = SoapMinistry(LAPOR)
    refused(
        UnusableAnswer,
        lambda: answering(soap, lambda c, client: c.pull(client, None), text="Service OK"),
        "not a page of XML",
    )
    refused(
        UnusableAnswer,
        lambda: answering(
            soap, lambda c, client: c.poll_status(client, None), content=b"<halaman/>"
        ),
        "without an AmbilStatusResponse",
    )
    refused(
        RetryableDeliveryError,
        lambda: answering(soap, lambda c, client: c.deliver(client, routed(), "k"), text="OK"),
        "without an XML answer",
    )
    refused(
        RetryableDeliveryError,
        lambda: answering(
            soap,
            lambda c, client: c.deliver(client, routed(), "k"),
            content=envelope("KirimPengaduanResponse", ""),
        ),
        "without NomorAgenda",
    )
    update = {
        "status": "RESOLVED",
        "agency": "kemensos",
        "message": None,
        "occurred_at": datetime(2026, 11, 20, tzinfo=UTC),
    }
    refused(
        RetryableDeliveryError,
        lambda: answering(
            soap, lambda c, client: c.send_status(client, update, "AG/1", "k"), text="<busy"
        ),
        "without an XML answer",
    )


# -- sms-1708 --------------------------------------------------------------------------


def sms(**fields: Any) -> RawMessage:
    return RawMessage("S-1", js({"id": "S-1", "dari": "+62812", "pesan": "jalan rusak", **fields}))


def test_sms_with_a_time_beyond_any_calendar_is_refused() -> None:
    for when in (1e20, -1e20, 10**30):
        refused(
            BadInput,
            lambda when=when: Sms1708({}).to_report(sms(diterima_pada=when)),
            "diterima_pada",
            "Unix seconds",
        )
    refused(BadInput, lambda: Sms1708({}).to_report(sms(diterima_pada=True)), "not true")


def test_a_24_kb_sms_is_read_in_well_under_half_a_second() -> None:
    for text in (
        "kel a" + " " * 24_000 + "x(",
        "kel a " * 4000 + "(",
        "Kel. " + "a" * 24_000 + "(",
        "di " * 8000,
        "kab bogor sudahx" * 1500,
    ):
        started = time.perf_counter()
        parse_sms(text[:24_000])
        assert time.perf_counter() - started < 0.5
        started = time.perf_counter()
        refused(BadInput, lambda t=text: Sms1708({}).to_report(sms(pesan=t)), "4,096-character")
        assert time.perf_counter() - started < 0.5


def test_sms_places_are_still_read() -> None:
    assert parse_sms("LAPOR# jalan rusak di Kel. Gubeng, Surabaya")["place"] == "Kel Gubeng"
    assert parse_sms("sampah di kec cibungbulang kab bogor tlg diangkut")["place"] == (
        "kec cibungbulang kab bogor"
    )
    assert parse_sms("jalan rusak di kel gubeng (depan sd)")["place"] is None


def test_control_characters_in_an_sms_are_refused() -> None:
    refused(BadInput, lambda: Sms1708({}).to_report(sms(pesan="aduan\x1b[31m")), "U+001B")
    batch = [
        {"id": "S-1", "dari": "+62", "pesan": "bel\x07"},
        {"id": "S-2", "dari": "+62", "pesan": "jalan rusak"},
        {"id": ["S-3"], "dari": "+62", "pesan": "x"},
    ]
    first, second, third = Sms1708({}).parse_push(js(batch), {})
    assert isinstance(first, BadInput) and "SMS #1: pesan has the control character U+0007" in (
        first.reason
    )
    assert first.body == js(batch[0]) and second.source_id == "S-2"
    assert isinstance(third, BadInput) and "id must be text or a whole number" in third.reason


# -- csv-export ------------------------------------------------------------------------


def test_a_csv_cell_over_128_kb_refuses_its_row_and_the_next_row_is_read() -> None:
    big = "a" * 140_000
    data = (
        "no_laporan,tanggal,isi\n"
        f'K-1,2026-11-01,"{big}\nmasih sel yang sama"\n'
        "K-2,2026-11-01,berikutnya\n"
        f"K-3,2026-11-01,{big}\n"
        "K-4,2026-11-01,terakhir"
    ).encode()
    messages = list(CsvExport({"agency": "a"}).read_file(data))
    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["BadInput", "RawMessage", "BadInput", "RawMessage"], kinds
    assert "line 3: the row is 140,037 bytes, over the 131,072-byte limit" in messages[0].reason
    assert messages[0].body.startswith(b'K-1,2026-11-01,"aaa') and messages[0].body.endswith(
        b'sama"'
    )
    assert messages[1].source_id == "K-2" and messages[1].headers == {"line": "4"}
    assert "line 5" in messages[2].reason and messages[3].source_id == "K-4"


def test_every_bad_csv_row_carries_its_own_bytes() -> None:
    data = (
        "no_laporan;tanggal;isi\r\n"
        ";2026-11-01;tanpa nomor\r\n"
        "K-2;2026-11-01\r\n"
        'K-3;2026-11-01;"kutip ""dalam"" sel"\r\n'
    ).encode("windows-1252")
    connector = CsvExport({"agency": "a", "delimiter": ";", "charset": "windows-1252"})
    first, second, third = connector.read_file(data)
    assert (
        first.reason == "line 2: no_laporan is empty" and first.body == b";2026-11-01;tanpa nomor"
    )
    assert "line 3: expected 3 columns, the row has 2" in second.reason
    assert second.body == b"K-2;2026-11-01"
    assert json.loads(third.body)["isi"] == 'kutip "dalam" sel'
    header = list(CsvExport({"agency": "a"}).read_file(b"nomor,isi\nK-1,x\n"))
    assert len(header) == 1 and "no column no_laporan, tanggal" in header[0].reason
    assert header[0].body == b"nomor,isi"


def test_a_csv_row_of_the_wrong_types_is_refused_in_translation() -> None:
    raw = RawMessage("K-1", js({"no_laporan": "K-1", "tanggal": "2026-11-01", "isi": 5}))
    refused(BadInput, lambda: CsvExport({"agency": "a"}).to_report(raw), "body must be text")
    raw = RawMessage("K-1", js(["K-1"]))
    refused(BadInput, lambda: CsvExport({"agency": "a"}).to_report(raw), "JSON object")
