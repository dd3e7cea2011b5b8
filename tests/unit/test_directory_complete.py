"""The agency directory is a complete national directory: every agency of the fixed id
vocabulary, every category owned, every agency with its mandate, and the regional units
(Polda, land offices) generated for every province and kabupaten/kota."""

from __future__ import annotations

import pytest

from hub.errors import RulesError
from hub.routing import default_rules_dir, load_directory
from hub.routing.directory import (
    Agency,
    AgencyKind,
    Directory,
    NationalFile,
    RegionsFile,
    generate_regions,
)
from hub.yamlfile import load_yaml, validate

DIRECTORY = load_directory(default_rules_dir() / "directory")

# The fixed id vocabulary that labelled test reports use: never rename one of these.
# fmt: off
MINISTRIES = [
    "kemensetneg", "kemendagri", "kemlu", "kemhan", "kemenag", "kemenkum", "kemenham",
    "kemenimipas", "kemenkeu", "kemendikdasmen", "kemdiktisaintek", "kemenbud", "kemenkes",
    "kemensos", "kemnaker", "kp2mi", "kemenperin", "kemendag", "kemen-esdm", "kemen-pu",
    "kemen-pkp", "kemendes", "kementrans", "kemenhub", "komdigi", "kementan", "kemenhut",
    "kkp", "atr-bpn", "bappenas", "kemenpan-rb", "kemen-bumn", "kemenkop", "kemen-umkm",
    "kemenpar", "kemenekraf", "kemenpora", "kemenpppa", "kemendukbangga", "kemenlh",
    "kemen-investasi", "kemenhaj", "kemenko-pmk", "kemenko-perekonomian", "kemenko-polkam",
    "kemenko-infrawil", "kemenko-pangan", "kemenko-pm", "kemenko-kumham-imipas",
]
SUB_UNITS = {"djp": "kemenkeu", "djbc": "kemenkeu", "bpjt": "kemen-pu"}
INSTITUTIONS = [
    "polri", "kejaksaan", "kpk", "ombudsman-ri", "komisi-informasi", "bpk", "bpkp", "bpom",
    "bpjs-kesehatan", "bpjs-ketenagakerjaan", "ojk", "bank-indonesia", "lps", "pln",
    "pertamina", "bulog", "kai", "pos-indonesia", "jasa-marga", "telkom", "taspen", "bnpb",
    "basarnas", "bmkg", "bnn", "bnpt", "bkn", "lkpp", "bps", "bpjph", "bgn", "bapanas", "brin",
    "kpu", "bawaslu", "komnas-ham", "kpai", "lpsk", "kppu", "bssn", "barantin", "bp-batam",
    "mahkamah-agung", "komisi-yudisial",
]
EXAMPLES = [
    "admin-nasional", "pemprov-jawa-timur", "pemprov-papua-pegunungan", "pemprov-dki-jakarta",
    "pemprov-diy", "pemkab-bogor", "pemkab-kutai-timur", "pemkot-bogor", "pemkot-surabaya",
    "pemkot-jakarta-selatan", "polda-jawa-timur", "polda-metro-jaya", "kantah-kota-bogor",
    "kantah-kabupaten-bogor",
]
# fmt: on


def test_every_fixed_id_is_in_the_directory() -> None:
    wanted = [*MINISTRIES, *SUB_UNITS, *INSTITUTIONS, *EXAMPLES]
    assert len(MINISTRIES) == 49, "the 48 of Perpres 139/2024 and Kementerian Haji dan Umrah"
    assert [agency_id for agency_id in wanted if agency_id not in DIRECTORY] == []


def test_sub_units_have_their_ministry_as_parent_and_its_kind() -> None:
    for unit, ministry in SUB_UNITS.items():
        assert DIRECTORY.get(unit).parent == ministry
        assert DIRECTORY.get(unit).kind is DIRECTORY.get(ministry).kind
        assert unit in DIRECTORY.children(ministry)


def test_every_category_has_an_owner_and_every_owned_category_exists() -> None:
    assert [c for c in DIRECTORY.categories if not DIRECTORY.owners_of(c)] == []
    owned = {c for a in DIRECTORY.agencies.values() for c in a.categories}
    assert owned <= set(DIRECTORY.categories)


def test_every_agency_has_a_mandate() -> None:
    missing = [a.id for a in DIRECTORY.agencies.values() if not a.mandate]
    assert missing == []
    assert "Perpres 139/2024" in DIRECTORY.get("kemenimipas").mandate
    assert "UU 2/2002" in DIRECTORY.get("polda-jawa-timur").mandate
    assert "UU 11/2006" in DIRECTORY.get("pemprov-aceh").mandate  # its own, not the default
    assert "UU 23/2014" in DIRECTORY.get("pemkab-garut").mandate


def test_the_new_owners_of_moved_and_new_categories() -> None:
    assert DIRECTORY.owners_of("keagamaan.haji") == ["kemenhaj"]
    assert "kemenag" in DIRECTORY.owners_of("keagamaan.kua")
    assert set(DIRECTORY.owners_of("jalan.tol")) == {"bpjt", "jasa-marga"}
    assert "kemenimipas" in DIRECTORY.owners_of("imigrasi")
    assert "bgn" in DIRECTORY.owners_of("gizi.mbg")
    assert "djbc" in DIRECTORY.owners_of("bea_cukai")


def test_a_polda_for_every_province_and_a_land_office_for_every_kabupaten_kota() -> None:
    agencies = DIRECTORY.agencies.values()
    poldas = [a for a in agencies if a.parent == "polri" and a.serves]
    land_offices = [a for a in agencies if a.id.startswith("kantah-")]
    assert len(poldas) == 38 and len(land_offices) == 514
    assert {a.level for a in poldas} == {"province"}
    assert {a.level for a in land_offices} == {"regency_city"}
    for unit in (*poldas, *land_offices):  # distinguishable from regional governments
        assert unit.kind in (AgencyKind.INSTITUTION, AgencyKind.MINISTRY) and unit.region is None
    for government in agencies:  # ids follow the regional governments' slugs
        if government.kind is AgencyKind.PROVINCE and government.id != "pemprov-dki-jakarta":
            assert "polda-" + government.id.removeprefix("pemprov-") in DIRECTORY
        elif government.kind in (AgencyKind.REGENCY, AgencyKind.CITY):
            prefix = "kota-" if government.kind is AgencyKind.CITY else "kabupaten-"
            assert "kantah-" + prefix + government.id.split("-", 1)[1] in DIRECTORY
    assert DIRECTORY.get("polda-metro-jaya").name == "Kepolisian Daerah Metro Jaya"
    assert "polda-dki-jakarta" not in DIRECTORY
    bogor = DIRECTORY.get("kantah-kabupaten-bogor")
    assert bogor.name == "Kantor Pertanahan Kabupaten Bogor" and bogor.serves == ["32.01"]
    assert DIRECTORY.get("kantah-kota-bogor").serves == ["32.71"]
    assert DIRECTORY.get("kantah-kota-jakarta-selatan").serves == ["31.74"]


def test_regional_units_on_disk_are_what_the_generator_makes() -> None:
    national, errors = validate(
        load_yaml(default_rules_dir() / "directory" / "national.yaml"), NationalFile
    )
    assert not errors and national is not None
    generated = generate_regions(national.regional_parent, national.regional_units)["units"]
    on_disk = [
        a.model_dump(exclude_none=True, exclude_defaults=True)
        for a in DIRECTORY.agencies.values()
        if a.serves
    ]
    fresh = [Agency.model_validate(u).model_dump(exclude_defaults=True) for u in generated]
    assert on_disk == fresh, "regions.yaml is stale: run `lapor-hub rules directory`"


@pytest.mark.parametrize(
    ("agency", "region", "unit"),
    [
        ("atr-bpn", "32.01.01", "kantah-kabupaten-bogor"),  # a kecamatan of Kabupaten Bogor
        ("atr-bpn", "32.71", "kantah-kota-bogor"),
        ("atr-bpn", "32.71.01.1001", "kantah-kota-bogor"),
        ("atr-bpn", "32", "kanwil-bpn-jawa-barat"),  # no kabupaten/kota: the province office
        ("kanwil-bpn-jawa-barat", "32.73", "kantah-kota-bandung"),
        ("polri", "35.78.01", "polda-jawa-timur"),  # no Polres units: the province unit
        ("polri", "31.74", "polda-metro-jaya"),
        ("polri", "32.75.01", "polda-metro-jaya"),  # Kota Bekasi is in Metro Jaya's area
        ("polri", "32.01", "polda-jawa-barat"),  # Kabupaten Bogor is not
        ("polri", "36.03", "polda-banten"),  # nor Kabupaten Tangerang
        ("polri", "36.74", "polda-metro-jaya"),  # Kota Tangerang Selatan is
        ("polri", "34.71", "polda-diy"),
    ],
)
def test_unit_of_picks_the_unit_of_the_reports_region(agency: str, region: str, unit: str) -> None:
    found = DIRECTORY.unit_of(agency, region)
    assert found is not None and found.id == unit


def test_unit_of_is_none_where_the_agency_has_no_unit() -> None:
    assert DIRECTORY.unit_of("kemensos", "35.78") is None
    assert DIRECTORY.unit_of("polri", None) is None
    assert DIRECTORY.unit_of("polda-jawa-timur", "35.78") is None
    assert DIRECTORY.unit_of("admin-nasional", "35") is None  # a Polda is not its unit


def test_parents_resolve_up_to_the_national_administrator() -> None:
    for agency in DIRECTORY.agencies.values():
        if agency.id == DIRECTORY.fallback:
            continue
        chain = DIRECTORY.parents(agency.id)
        assert chain and chain[-1] == DIRECTORY.fallback, agency.id
    assert DIRECTORY.parents("kantah-kota-bogor") == [
        "kanwil-bpn-jawa-barat",
        "atr-bpn",
        "admin-nasional",
    ]
    assert DIRECTORY.parents("polda-metro-jaya") == ["polri", "admin-nasional"]
    assert DIRECTORY.parents("djp") == ["kemenkeu", "admin-nasional"]


def test_children() -> None:
    assert len([c for c in DIRECTORY.children("polri") if c.startswith("polda-")]) == 38
    assert "kantah-kota-bogor" in DIRECTORY.children("kanwil-bpn-jawa-barat")
    assert "kantah-kota-bogor" not in DIRECTORY.children("atr-bpn")
    assert DIRECTORY.children("kpk") == []


def test_owners_by_level() -> None:
    police = DIRECTORY.owners_by_level("kepolisian")
    assert list(police) == ["centre", "province"]
    assert police["centre"] == ["polri"] and len(police["province"]) == 38
    rubbish = DIRECTORY.owners_by_level("lingkungan.sampah")
    assert "regency_city" in rubbish and "pemkot-surabaya" in rubbish["regency_city"]
    # regional taxes are the regions'; Kemendagri supervises them (UU 1/2022)
    assert list(DIRECTORY.owners_by_level("pajak_daerah")) == ["centre", "province", "regency_city"]
    assert list(DIRECTORY.owners_by_level("imigrasi")) == ["centre"]


def test_names_and_aliases_find_one_agency() -> None:
    assert DIRECTORY.named("Kantor Imigrasi").id == "kemenimipas"
    assert DIRECTORY.named("  dirjen   PAJAK ").id == "djp"
    assert DIRECTORY.named("Polda Metro Jaya").id == "polda-metro-jaya"
    assert DIRECTORY.named("BPN Kota Bogor").id == "kantah-kota-bogor"
    assert DIRECTORY.named("Kementerian Haji dan Umrah").id == "kemenhaj"
    assert DIRECTORY.named("BPJS") is None  # Kesehatan or Ketenagakerjaan: not guessed


def _directory(national_extra: dict, units: list[dict] | None = None) -> Directory:
    national = NationalFile.model_validate(
        {
            "default_connector": "lapor-nasional",
            "fallback": "admin",
            "regional_parent": "admin",
            "regional_categories": {},
            "categories": {"lainnya": "Lain-lain", "pajak": "Pajak"},
            "agencies": [
                {"id": "admin", "name": "Admin", "kind": "national", "categories": ["lainnya"]},
                {
                    "id": "kemenkeu",
                    "name": "Kementerian Keuangan",
                    "kind": "ministry",
                    "parent": "admin",
                    "categories": ["pajak"],
                    "aliases": ["Kemenkeu"],
                },
            ],
            **national_extra,
        }
    )
    return Directory(national, RegionsFile(source="test", agencies=[], units=units or []))


def test_an_inconsistent_directory_is_refused_with_every_problem() -> None:
    assert _directory({}).named("kemenkeu").id == "kemenkeu"
    with pytest.raises(RulesError) as caught:
        _directory(
            {
                "categories": {"lainnya": "-", "pajak": "-", "bea": "Bea"},
                "agencies": [
                    {"id": "admin", "name": "Admin", "kind": "national", "categories": "lainnya"},
                    {"id": "a", "name": "A", "kind": "ministry", "parent": "x", "aliases": "DJ"},
                    {"id": "b", "name": "B", "kind": "ministry", "categories": "pajak",
                     "aliases": ["dj", "A"]},
                ],
            }
        )  # fmt: skip
    message = caught.value.message
    assert "a's parent x is not in the directory" in message
    assert "no agency owns category bea" in message
    assert "alias 'dj' of b is ambiguous: it already names a" in message
    assert "alias 'A' of b is ambiguous: it already names a" in message


def test_regional_units_missing_from_regions_yaml_are_reported_as_stale() -> None:
    spec = {
        "of": "kemenkeu",
        "kind": "ministry",
        "level": "province",
        "id": "kanwil-djp-{slug}",
        "name": "Kanwil DJP {name}",
        "mandate": "UU 6/1983",
    }
    with pytest.raises(RulesError, match="no province units of kemenkeu: it is stale"):
        _directory({"regional_units": [spec]})
    unit = {
        "id": "kanwil-djp-aceh",
        "name": "Kanwil DJP Aceh",
        "kind": "ministry",
        "serves": "11",
        "parent": "kemenkeu",
    }
    directory = _directory({"regional_units": [spec]}, [Agency.model_validate(unit)])
    assert directory.unit_of("kemenkeu", "11.01.01").id == "kanwil-djp-aceh"
