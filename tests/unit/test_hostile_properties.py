"""Property tests: whatever bytes or JSON an app sends, every built-in connector either
reads it or refuses it with one of the hub's errors (HubError); nothing else escapes to stop
the hub. What it does read fits the canonical schema."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.csv_export import COLUMNS, CsvExport
from connectors.declarative import Declarative
from connectors.lapor_json import LaporJson
from connectors.open311 import Open311
from connectors.sms1708 import Sms1708
from connectors.soap_ministry import SoapMinistry, envelope
from hub.errors import BadInput, HubError
from hub.sdk import Connector, Delivered, JsonPage, PullPage, RawMessage
from hub.serialization import SchemaStore, SingleObjectCodec
from hub.serialization.store import default_schema_dir

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODEC = SingleObjectCodec(SchemaStore(default_schema_dir()))
BASE = "http://app.test"
CONNECTORS: dict[str, Connector] = {
    "lapor-json": LaporJson({"agency": "kemenpan-rb", "base_url": BASE}),
    "open311-json": Open311({"agency": "pemkot-surabaya", "base_url": BASE}),
    "open311-xml": Open311({"agency": "pemkot-surabaya", "base_url": BASE, "format": "xml"}),
    "soap-ministry": SoapMinistry({"agency": "kemensos", "base_url": BASE}),
    "sms-1708": Sms1708({"agency": "admin-nasional"}),
    "csv-export": CsvExport({"agency": "pemkab-kutai-timur"}),
    "declarative": Declarative(
        {
            "agency": "pemkot-bandung",
            "base_url": BASE,
            "mapping": "connectors/declarative/examples/dinas-json.yaml",
        }
    ),
}

# -- what an app may send ----------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats()  # NaN and the infinities too
    | st.text(max_size=20)
    | st.sampled_from(["", " ", "2026-11-20T08:00:00+07:00", "1e20", "-7.28", "\x1b[2J", "\ud7ff"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def dumps(value: Any) -> bytes:
    """As an app would send it: NaN and Infinity written as JS does."""
    return json.dumps(value, ensure_ascii=False).encode()


def shaped(good: dict[str, Any], optional: dict[str, Any] | None = None) -> st.SearchStrategy:
    """Objects with the app's own field names: each a plausible value or anything at all."""

    def field(value: Any) -> st.SearchStrategy:
        if isinstance(value, st.SearchStrategy):
            return value | json_values
        return st.just(value) | json_values

    return st.fixed_dictionaries(
        {k: field(v) for k, v in good.items()},
        optional={k: field(v) for k, v in (optional or {}).items()},
    )


NOW = "2026-11-20T08:15:00+07:00"
lapor_items = shaped(
    {"tracking_id": "LPR-1", "isi": "Jalan berlubang", "dibuat_pada": NOW},
    {
        "judul": "Jalan",
        "jenis": "pengaduan",
        "sumber": "android",
        "tautan": "https://x",
        "kategori": shaped({}, {"kode": "infrastruktur.jalan", "nama": "Jalan"}),
        "lokasi": shaped(
            {}, {"kode_wilayah": "35.78", "alamat": "Kel. Gubeng", "lat": -7.2, "lng": 112.7}
        ),
        "pelapor": shaped({}, {"nama": "Siti", "telepon": "0812", "anonim": False}),
        "lampiran": st.lists(shaped({"url": "https://x/1.jpg"}, {"ukuran": 10}), max_size=2),
    },
)
lapor_statuses = shaped(
    {"id": "TL-1", "referensi_hub": "h", "status": "selesai", "waktu": NOW},
    {"instansi": "pemkot-surabaya", "pesan": "Sudah", "petugas": "admin"},
)
open311_items = shaped(
    {"service_request_id": "1001", "description": "Sampah", "requested_datetime": NOW},
    {
        "service_name": "Sampah",
        "service_code": "sampah",
        "status": "open",
        "updated_datetime": NOW,
        "lat": "-7.28",
        "long": 112.73,
        "first_name": "Budi",
        "media_url": "https://x/1.jpg",
        "attributes": shaped({}, {"hub_id": "h", "external_status_code": "fixed"}),
    },
)
dinas_items = shaped(
    {"id": "D-1", "message": "Lampu mati", "created_at": NOW},
    {
        "type": "usulan",
        "subject": "Taman",
        "where": shaped({}, {"text": "Taman Lansia", "kemendagri": "32.73"}),
        "citizen": shaped({}, {"name": "Ani", "hidden": True}),
    },
)
sms_items = shaped(
    {"id": "SMS-1", "dari": "+62812", "pesan": "LAPOR# jalan rusak di Kel. Gubeng"},
    {"diterima_pada": NOW, "operator": "Telkomsel"},
)
csv_rows = shaped(
    {"no_laporan": "K-1", "tanggal": "2026-11-01 10:00", "isi": "Sampah"},
    {"jenis": "pengaduan", "judul": "Sampah", "anonim": "ya", "kode_wilayah": "64.08"},
)


def json_bodies(items: st.SearchStrategy) -> st.SearchStrategy:
    return st.binary(max_size=100) | json_values.map(dumps) | items.map(dumps)


xml_text = st.text(max_size=12).map(escape)


def xml_elements(tags: list[str]) -> st.SearchStrategy:
    """Elements named like the app's fields (and not), holding text or more elements."""
    names = st.sampled_from([*tags, "x", "Lampiran", "ns:y", "a b"])
    return st.recursive(
        xml_text,
        lambda inner: st.lists(st.tuples(names, inner), max_size=4).map(
            lambda kids: "".join(f"<{t}>{c}</{t}>" for t, c in kids)
        ),
        max_leaves=12,
    )


SOAP_FIELDS = [
    "Urutan",
    "NomorAgenda",
    "Uraian",
    "TanggalSurat",
    "Perihal",
    "Jenis",
    "ReferensiHub",
    "Status",
    "Waktu",
    "Rahasia",
    "KodeWilayah",
]
OPEN311_FIELDS = [
    "service_request_id",
    "description",
    "requested_datetime",
    "lat",
    "long",
    "updated_datetime",
    "status",
    "attributes",
    "hub_id",
    "first_name",
]
soap_items = st.lists(
    st.tuples(
        st.sampled_from(["Pengaduan", "StatusPengaduan", "Fault", "x"]),
        st.sampled_from(["", "1", "abc", "99999999999999999999", "-3"]),
        xml_elements(SOAP_FIELDS),
    ),
    max_size=4,
).map(
    lambda items: "".join(
        f"<{tag}><Urutan>{urutan}</Urutan>{inner}</{tag}>" for tag, urutan, inner in items
    )
)
soap_bodies = st.binary(max_size=100) | xml_elements(SOAP_FIELDS).map(
    lambda inner: f"<Pengaduan>{inner}</Pengaduan>".encode()
)
open311_xml_bodies = st.binary(max_size=100) | xml_elements(OPEN311_FIELDS).map(
    lambda inner: f"<request>{inner}</request>".encode()
)


# -- how each side is driven -------------------------------------------------------------


def answering(connector: Connector, call, **answer: Any) -> Any:
    async def run():
        transport = httpx.MockTransport(lambda request: httpx.Response(**answer))
        async with httpx.AsyncClient(transport=transport) as client:
            return await call(connector, client)

    return asyncio.run(run())


def translated(call, schema: str) -> None:
    """The call refuses with a HubError, or gives a value the canonical schema takes."""
    try:
        value = call()
    except HubError:
        return
    CODEC.encode(schema, value)


def a_page(connector: Connector, side: str, **answer: Any) -> None:
    """A pull or status poll on any answer: a page of messages and refusals (each with its
    bytes), or a HubError; each message read on goes as far as its translation."""
    try:
        page = answering(connector, lambda c, client: getattr(c, side)(client, None), **answer)
    except HubError:
        return
    assert isinstance(page, PullPage)
    assert page.cursor is None or isinstance(page.cursor, str)
    for message in page.messages:
        if isinstance(message, BadInput):
            assert isinstance(message.body, bytes) and message.reason
            continue
        assert isinstance(message, RawMessage) and message.source_id.strip()
        if side == "pull":
            translated(lambda m=message: connector.to_report(m), "Report")
        else:
            translated(lambda m=message: connector.to_status(m), "StatusUpdate")


def routed() -> dict[str, Any]:
    raw = RawMessage(
        "LPR-1", dumps({"tracking_id": "LPR-1", "isi": "Jalan rusak", "dibuat_pada": NOW})
    )
    report = CONNECTORS["lapor-json"].to_report(raw)
    return {"report": report, "decision": {"destinations": [], "reason": "uji"}}


UPDATE = {
    "update_id": "u-1",
    "status": "RESOLVED",
    "agency": "pemkot-surabaya",
    "message": "Sudah",
    "source_status": "selesai",
    "occurred_at": datetime(2026, 11, 20, tzinfo=UTC),
}


def answered(connector: Connector, call, **answer: Any) -> Any:
    try:
        return answering(connector, call, **answer)
    except HubError:
        return None


statuses = st.sampled_from([200, 201, 202])
content_types = st.sampled_from(
    ["application/json", "text/html", "application/xml", "text/xml; charset=utf-8", "text/plain"]
)


# -- lapor-json ------------------------------------------------------------------------


@PROPERTY
@given(body=json_bodies(lapor_items))
def test_lapor_reports(body: bytes) -> None:
    translated(lambda: CONNECTORS["lapor-json"].to_report(RawMessage("x", body)), "Report")


@PROPERTY
@given(body=json_bodies(lapor_statuses))
def test_lapor_statuses(body: bytes) -> None:
    translated(lambda: CONNECTORS["lapor-json"].to_status(RawMessage("x", body)), "StatusUpdate")


lapor_pages = (
    st.binary(max_size=100)
    | json_values.map(dumps)
    | st.fixed_dictionaries(
        {"data": st.lists(lapor_items | json_values, max_size=4) | json_values},
        optional={"kursor_berikut": json_values},
    ).map(dumps)
)
lapor_status_pages = st.fixed_dictionaries(
    {"data": st.lists(lapor_statuses | json_values, max_size=4)},
    optional={"kursor_berikut": json_values},
).map(dumps)


@PROPERTY
@given(content=lapor_pages, kind=content_types)
def test_lapor_pulled_pages(content: bytes, kind: str) -> None:
    a_page(
        CONNECTORS["lapor-json"],
        "pull",
        status_code=200,
        content=content,
        headers={"content-type": kind},
    )


@PROPERTY
@given(content=lapor_status_pages | lapor_pages)
def test_lapor_status_pages(content: bytes) -> None:
    a_page(CONNECTORS["lapor-json"], "poll_status", status_code=200, content=content)


@PROPERTY
@given(content=json_bodies(shaped({"tracking_id": "INS-1"})), status=statuses)
def test_lapor_delivery_answers(content: bytes, status: int) -> None:
    done = answered(
        CONNECTORS["lapor-json"],
        lambda c, client: c.deliver(client, routed(), "k"),
        status_code=status,
        content=content,
    )
    assert done is None or (isinstance(done, Delivered) and done.remote_id.strip())


# -- open311 ---------------------------------------------------------------------------


@PROPERTY
@given(body=json_bodies(open311_items))
def test_open311_json_reports_and_statuses(body: bytes) -> None:
    raw = RawMessage("x", body)
    translated(lambda: CONNECTORS["open311-json"].to_report(raw), "Report")
    translated(lambda: CONNECTORS["open311-json"].to_status(raw), "StatusUpdate")


@PROPERTY
@given(body=open311_xml_bodies)
def test_open311_xml_reports_and_statuses(body: bytes) -> None:
    raw = RawMessage("x", body, "application/xml")
    translated(lambda: CONNECTORS["open311-xml"].to_report(raw), "Report")
    translated(lambda: CONNECTORS["open311-xml"].to_status(raw), "StatusUpdate")


open311_json_pages = (
    st.binary(max_size=100)
    | json_values.map(dumps)
    | st.lists(open311_items | json_values, max_size=4).map(dumps)
)
open311_xml_pages = st.binary(max_size=100) | st.lists(
    st.tuples(st.sampled_from(["request", "error", "x"]), xml_elements(OPEN311_FIELDS)),
    max_size=4,
).map(
    lambda items: (
        "<service_requests>"
        + "".join(f"<{tag}>{inner}</{tag}>" for tag, inner in items)
        + "</service_requests>"
    ).encode()
)


@PROPERTY
@given(content=open311_json_pages, side=st.sampled_from(["pull", "poll_status"]))
def test_open311_json_pages(content: bytes, side: str) -> None:
    a_page(CONNECTORS["open311-json"], side, status_code=200, content=content)


@PROPERTY
@given(content=open311_xml_pages, side=st.sampled_from(["pull", "poll_status"]))
def test_open311_xml_pages(content: bytes, side: str) -> None:
    a_page(CONNECTORS["open311-xml"], side, status_code=200, content=content)


@PROPERTY
@given(
    name=st.sampled_from(["open311-json", "open311-xml"]),
    content=open311_json_pages | open311_xml_pages,
    status=statuses,
)
def test_open311_delivery_answers(name: str, content: bytes, status: int) -> None:
    done = answered(
        CONNECTORS[name],
        lambda c, client: c.deliver(client, routed(), "k"),
        status_code=status,
        content=content,
    )
    assert done is None or (isinstance(done, Delivered) and done.remote_id.strip())


# -- soap-ministry ---------------------------------------------------------------------


@PROPERTY
@given(body=soap_bodies)
def test_soap_reports_and_statuses(body: bytes) -> None:
    raw = RawMessage("x", body, "application/xml")
    translated(lambda: CONNECTORS["soap-ministry"].to_report(raw), "Report")
    translated(lambda: CONNECTORS["soap-ministry"].to_status(raw), "StatusUpdate")


soap_answers = st.binary(max_size=100) | st.tuples(
    st.sampled_from(
        ["AmbilPengaduanResponse", "AmbilStatusResponse", "KirimPengaduanResponse", "Fault"]
    ),
    soap_items | xml_elements(["NomorAgenda", "Fault", "Diterima"]),
).map(lambda answer: envelope(*answer))


@PROPERTY
@given(content=soap_answers, side=st.sampled_from(["pull", "poll_status"]))
def test_soap_pages(content: bytes, side: str) -> None:
    a_page(CONNECTORS["soap-ministry"], side, status_code=200, content=content)


@PROPERTY
@given(content=soap_answers, status=statuses)
def test_soap_delivery_and_status_answers(content: bytes, status: int) -> None:
    soap = CONNECTORS["soap-ministry"]
    done = answered(
        soap,
        lambda c, client: c.deliver(client, routed(), "k"),
        status_code=status,
        content=content,
    )
    assert done is None or (isinstance(done, Delivered) and done.remote_id.strip())
    answered(
        soap,
        lambda c, client: c.send_status(client, UPDATE, "AG/1", "k"),
        status_code=status,
        content=content,
    )


# -- sms-1708 --------------------------------------------------------------------------


sms_bodies = json_bodies(sms_items) | st.lists(sms_items | json_values, max_size=4).map(dumps)


@PROPERTY
@given(body=sms_bodies)
def test_sms_pushes(body: bytes) -> None:
    sms = CONNECTORS["sms-1708"]
    try:
        messages = sms.parse_push(body, {})
    except HubError:
        return
    for message in messages:
        if isinstance(message, BadInput):
            assert isinstance(message.body, bytes) and message.reason.startswith("SMS #")
        else:
            translated(lambda m=message: sms.to_report(m), "Report")


@PROPERTY
@given(body=json_bodies(sms_items), text=st.text(max_size=300))
def test_sms_reports(body: bytes, text: str) -> None:
    sms = CONNECTORS["sms-1708"]
    translated(lambda: sms.to_report(RawMessage("x", body)), "Report")
    message = dumps({"id": "S-1", "dari": "+62", "pesan": text})
    translated(lambda: sms.to_report(RawMessage("S-1", message)), "Report")


# -- csv-export ------------------------------------------------------------------------

cells = st.text(
    alphabet=st.sampled_from(["a", "K", "-", "1", ",", ";", '"', "\n", "\r", " ", "é", "\x00"]),
    max_size=12,
) | st.text(max_size=8)


def csv_text(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


csv_files = (
    st.binary(max_size=200)
    | cells.map(str.encode)
    | st.builds(
        csv_text,
        st.lists(st.sampled_from([*COLUMNS, "rt", ""]), min_size=1, max_size=6)
        | st.just(["no_laporan", "tanggal", "isi"]),
        st.lists(st.lists(cells, max_size=5), max_size=5),
    )
    | st.lists(cells, max_size=6).map(lambda parts: ",".join(parts).encode())
)


@PROPERTY
@given(data=csv_files, delimiter=st.sampled_from([",", ";"]))
def test_csv_files(data: bytes, delimiter: str) -> None:
    connector = CsvExport({"agency": "pemkab-kutai-timur", "delimiter": delimiter})
    try:
        messages = list(connector.read_file(data))
    except HubError:
        return
    for message in messages:
        if isinstance(message, BadInput):
            assert message.reason and isinstance(message.body, bytes)
        else:
            translated(lambda m=message: connector.to_report(m), "Report")


@PROPERTY
@given(body=json_bodies(csv_rows))
def test_csv_rows(body: bytes) -> None:
    translated(lambda: CONNECTORS["csv-export"].to_report(RawMessage("x", body)), "Report")


# -- declarative -----------------------------------------------------------------------


@PROPERTY
@given(body=json_bodies(dinas_items))
def test_declarative_reports(body: bytes) -> None:
    translated(lambda: CONNECTORS["declarative"].to_report(RawMessage("D-1", body)), "Report")


declarative_pages = (
    st.binary(max_size=100)
    | json_values.map(dumps)
    | st.fixed_dictionaries(
        {"data": st.lists(dinas_items | json_values, max_size=4) | json_values},
        optional={"meta": shaped({}, {"next": 2})},
    ).map(dumps)
)


@PROPERTY
@given(content=declarative_pages)
def test_declarative_pages(content: bytes) -> None:
    a_page(CONNECTORS["declarative"], "pull", status_code=200, content=content)


@PROPERTY
@given(content=json_bodies(shaped({"ticket": "T-1"})), status=statuses)
def test_declarative_delivery_answers(content: bytes, status: int) -> None:
    done = answered(
        CONNECTORS["declarative"],
        lambda c, client: c.deliver(client, routed(), "k"),
        status_code=status,
        content=content,
    )
    assert done is None or (isinstance(done, Delivered) and done.remote_id.strip())


# -- the shallow page reader -------------------------------------------------------------

json_soup = st.lists(
    st.sampled_from(
        ["{", "}", "[", "]", ",", ":", '"a"', '"', '\\"', "1", "NaN", "tru", " ", "\n", "é", "\\"]
    ),
    max_size=30,
).map("".join)


@PROPERTY
@given(items=st.lists(json_values, max_size=5), space=st.sampled_from(["", " ", "\n\t "]))
def test_a_page_splits_into_the_items_json_reads(items: list, space: str) -> None:
    """On JSON any parser reads, the items are those it reads, each as its own text."""
    texts = [json.dumps(item) for item in items]
    content = f'{{{space}"data"{space}:{space}[{space}{("," + space).join(texts)}{space}]}}'
    page = JsonPage(httpx.Response(200, content=content.encode()), "the app")
    assert [item.text for item in page.items("data")] == texts
    assert [item.body for item in page.items("data")] == [t.encode() for t in texts]


@PROPERTY
@given(soup=json_soup, item=json_soup)
def test_any_page_text_is_split_or_refused_as_a_whole(soup: str, item: str) -> None:
    content = ('{"data": [' + item + ", " + soup + "]}").encode()
    try:
        page = JsonPage(httpx.Response(200, content=content), "the app")
        messages = page.messages("data", "id")
    except HubError:
        return
    for message in messages:
        assert isinstance(message, RawMessage | BadInput) and isinstance(message.body, bytes)
        assert message.body in content, "an item's bytes are the app's own"


@PROPERTY
@given(items=st.lists(lapor_items | json_values, max_size=4), soup=json_soup)
def test_the_fast_and_the_careful_reading_of_items_agree(items: list, soup: str) -> None:
    """Items the C parser reads are looked at through it; the others are stepped through.
    Both say the same of every item: a message with the same id, or a refusal."""
    texts = [json.dumps(item) for item in items] + ([soup] if soup.startswith("{") else [])
    content = ('{"data": [' + ", ".join(texts) + "]}").encode()
    try:
        page = JsonPage(httpx.Response(200, content=content), "the app")
        fast = page.messages("data", "tracking_id")
    except HubError:
        return
    page._parsed.clear()  # every item read the careful way
    careful = page.messages("data", "tracking_id")

    def outcome(message: RawMessage | BadInput) -> tuple:
        return (type(message), getattr(message, "source_id", None), message.body)

    assert [outcome(m) for m in fast] == [outcome(m) for m in careful]
