"""Where a report is, read the way citizens and agency apps write it: codes at any level,
addresses, and places named only in the title or body. The expectations are the places
themselves (Kemendagri codes), not what the resolver happens to return."""

from __future__ import annotations

import pytest

from hub.routing import default_rules_dir
from hub.routing.location import LocationResolver, dotted
from hub.routing.rules import load_rules
from hub.routing.text import ReportText, Spelling, WordCondition, inflections

RESOLVER = LocationResolver(load_rules(default_rules_dir()).aliases)


def where(address: str | None = None, text: str = "", code: str | None = None) -> str | None:
    return RESOLVER.resolve({"region_code": code, "address": address}, "", text).region_code


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("3578081001", "35.78.08.1001"),
        ("357808", "35.78.08"),
        ("3578", "35.78"),
        ("35", "35"),
        (" 35.78 ", "35.78"),
        ("35-78", None),
        ("abc", None),
        ("357", None),
    ],
)
def test_region_codes_dotted_or_not(given: str, expected: str | None) -> None:
    assert dotted(given) == expected


def test_codes_at_any_level_stand_for_their_kabupaten_kota() -> None:
    assert where(code="3578081001") == "35.78.08.1001"
    assert where(code="35.78.08").startswith("35.78")
    # a village code that does not exist, in a kabupaten/kota that does
    assert where(code="35.78.08.9999") == "35.78.08"
    assert where(code="99.99") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jalan rusak di kel sukajadi kec sukasari kota bandung", "32.73"),
        ("jln berlubang di dpn pasar cibinong kab bogor", "32.01"),
        ("sampah numpuk di tangsel dkt stasiun", "36.74"),
        ("Got mampet di Kebayoran Baru, Jaksel", "31.74"),
        ("lampu jalan mati di kecamatan tenggarong", "64.02"),
        ("Parkir liar di sekitar Pasar Kliwon, Solo", "33.72"),
    ],
)
def test_places_named_only_in_the_body(text: str, expected: str) -> None:
    found = where(text=text)
    assert found is not None and (found == expected or found.startswith(expected + "."))


@pytest.mark.parametrize("city", ["Bogor", "Bekasi", "Malang", "Tangerang"])
def test_a_bare_name_of_a_kabupaten_and_a_kota_is_cut_back_to_their_province(city: str) -> None:
    resolved = RESOLVER.resolve({"address": city})
    assert resolved.region_code is not None and len(resolved.region_code) == 2
    assert f"Kabupaten {city}" in resolved.note and f"Kota {city}" in resolved.note


def test_everyday_words_are_not_places() -> None:
    assert where(text="nasib malang, jalan rusak di desa kami sudah 2 tahun") is None
    assert where(text="Bansos sembako saya dihentikan tanpa alasan.") is None
    assert where(text="Saya melaporkan ke kelurahan namun tidak ada tanggapan.") is None
    assert where(address="Jl. Malang No. 5, Kota Surabaya") == "35.78"  # a street


def test_a_code_contradicted_by_the_report_gives_way_and_both_are_said() -> None:
    resolved = RESOLVER.resolve(
        {"region_code": "32.75", "address": "Kec. Cibinong, Kabupaten Bogor"}, "", "jalan rusak"
    )
    assert resolved.region_code.startswith("32.01")
    assert "32.75" in resolved.note and "contradicts" in resolved.note
    # the body too: an app sent the reporter's home, the report is about another place
    assert where(code="32", text="jalan rusak di Kec. Cibinong Kabupaten Bogor") == "32.01.01"
    trap = "jalan desa di Kecamatan Cikajang, Garut hancur. Saya tinggal di Bandung."
    assert where(code="3273", address="Jl. Dago, Kota Bandung", text=trap).startswith("32.05")
    # where the reporter lives is not where the problem is
    assert where(code="32.75", text="Saya tinggal di Kabupaten Bogor, jalan depan rumah rusak") == (
        "32.75"
    )
    # a code the text agrees with, or says nothing against, is kept
    assert where(code="32.01", text="jalan rusak di Cibinong") == "32.01"
    assert where(code="35.78", text="sampah menumpuk di pasar") == "35.78"


def test_a_village_outside_the_province_named_is_not_taken() -> None:
    assert where(address="pasar kembang jogja") == "34"


def test_inflected_forms_match_their_root() -> None:
    assert {"memungut", "dipungut", "pungutan", "pemungutan", "dipungutin"} <= set(
        inflections("pungut")
    )
    assert {"percaloan", "calonya"} <= set(inflections("calo"))
    assert {"dipersulit", "mempersulit"} <= set(inflections("sulit"))
    condition = WordCondition(["~pungut", "~minta uang"], Spelling({}))
    assert condition.matches(ReportText("Petugas memungut biaya Rp50 ribu")) == "memungut"
    assert condition.matches(ReportText("kami dimintai uang oleh oknum")) == "dimintai uang"
    assert condition.matches(ReportText("harga pungut?")) == "pungut"
    assert condition.matches(ReportText("permintaan informasi anggaran")) is None


def test_a_text_listing_thousands_of_places_is_read_in_bounded_work() -> None:
    """A hostile report of 20,000 characters of place names must not make one decision
    cost seconds: the places read per text are capped."""
    from hub.routing.gazetteer import MAX_MENTIONS

    listing = "desa sukamaju kec sukasari kab bogor kota malang kelurahan sukajadi " * 400
    assert len(RESOLVER.places.find(listing)) <= MAX_MENTIONS
    assert len(RESOLVER.places.find_broad(listing)) <= MAX_MENTIONS
    assert RESOLVER.resolve({"address": listing}, "", listing).note  # decides, with a reason


def test_separators_from_outside_ascii_separate_words() -> None:
    """Text pasted from a word processor or a chat app: no-break spaces, curly quotes,
    dashes and zero-width spaces must not hide a place or a rule word."""
    assert where(text="jalan\u00a0rusak di Kec.\u00a0Cibinong").startswith("32.01")
    assert where(text="\u201cKec. Cibinong\u201d jalan rusak").startswith("32.01")
    assert where(text="jalan rusak di Kec. Cibi\u200bnong").startswith("32.01")


def test_after_kabupaten_the_name_of_a_kabupaten_not_a_longer_desa_across_a_full_stop() -> None:
    # "Serang Bulan" is a desa in Bengkulu: read across the full stop it hid Kabupaten Serang
    assert where(text="pabrik di Cikande, Kabupaten Serang. Bulan lalu saya di-PHK") == (
        "36.04.15.2001"  # Desa Cikande, Kecamatan Cikande, Kabupaten Serang
    )
    assert where(text="Kabupaten Serang bulan ini banjir lagi") == "36.04"
    assert where(text="jalan rusak di desa serang bulan") == "17.01.06.2010"  # named as a desa
