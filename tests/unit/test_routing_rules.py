"""Rule files: every error at once with file and line; check, reload, re-routing, records."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.errors import RulesError
from hub.routing import (
    ReloadingRouter,
    Router,
    build_router,
    check_rules,
    default_rules_dir,
    load_rules,
)
from hub.routing.directory import generate_regions, load_directory
from hub.routing.location import LocationResolver
from hub.serialization import SchemaStore, SingleObjectCodec
from hub.serialization.store import default_schema_dir

ROUTER = build_router(default_rules_dir())


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A writable copy of routing_rules/ (without its cases)."""
    return Path(shutil.copytree(default_rules_dir(), tmp_path / "routing_rules"))


def write(rules: Path, name: str, text: str) -> Path:
    path = rules / "rules" / name
    path.write_text(text, encoding="utf-8")
    return path


def report(body: str, region: str | None = None, **extra) -> dict:
    return {
        "hub_id": "t",
        "kind": "COMPLAINT",
        "title": "",
        "body": body,
        "source": {"channel": "WEB"},
        "location": {"region_code": region},
        "reporter": {},
        **extra,
    }


def test_every_validation_error_is_reported_with_file_line_and_path(rules: Path) -> None:
    write(
        rules, "90-a.yaml", "rules:\n  - id: a\n    when:\n      region: '3578'\n    route: [x]\n"
    )
    write(
        rules,
        "91-b.yaml",
        "rules:\n  - id: b\n    when: {kind: keluhan}\n  - id: c\n    rute: [x]\n",
    )
    with pytest.raises(RulesError) as caught:
        build_router(rules)
    message = caught.value.message
    assert "3 error(s)" in message
    assert "rules/90-a.yaml:4: rules[0].when.region" in message
    assert "not a Kemendagri region code" in message
    assert (
        "rules/91-b.yaml:3: rules[0].when.kind" in message and "unknown kind 'KELUHAN'" in message
    )
    assert "rules/91-b.yaml:5: rules[1].rute: unknown key 'rute'" in message


def test_yaml_syntax_errors_name_the_line(rules: Path) -> None:
    write(rules, "90-a.yaml", "rules:\n  - id: a\n    route: [kemensos\n")
    with pytest.raises(RulesError) as caught:
        build_router(rules)
    assert "90-a.yaml:4: not valid YAML" in caught.value.message


def test_duplicate_ids_are_refused(rules: Path) -> None:
    write(rules, "90-a.yaml", "rules:\n  - {id: sampah, route: [kemensos]}\n")
    with pytest.raises(RulesError, match="'sampah' is also used at"):
        build_router(rules)


def test_check_finds_unknown_agencies_categories_dead_and_shadowed_rules(rules: Path) -> None:
    write(
        rules,
        "05-awal.yaml",
        """rules:
  - id: semua-bansos
    when: {words: [bansos, pkh]}
    route: [kemensos]
  - id: bansos-pkh
    when: {words: pkh}
    route: [kemensos]
  - id: salah-nama
    when: {category: sosial.bantuan}
    route: [kemensos-ri]
  - id: wilayah-tidak-ada
    when: {region: "99"}
    route: [kemensos]
""",
    )
    found = check_rules(Router(load_rules(rules), load_directory(rules / "directory")))
    text = "\n".join(found)
    assert "rules/05-awal.yaml:5: bansos-pkh: shadowed by semua-bansos" in text
    assert "rules/05-awal.yaml:8: salah-nama: route names unknown agency 'kemensos-ri'" in text
    assert "salah-nama: unknown category 'sosial.bantuan'" in text
    assert "wilayah-tidak-ada: can never match: region 99 does not exist" in text
    # a later rule with more words than the earlier one is not shadowed
    assert "bansos-pusat: shadowed" not in text
    with pytest.raises(RulesError, match="kemensos-ri"):
        build_router(rules)  # unknown agencies stop a load; shadowing alone does not


def test_the_cli_check_and_test_commands(rules: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    ok = subprocess.run(
        [sys.executable, "-m", "hub", "rules", "check", "--rules", str(rules)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and "no problems" in ok.stdout
    tested = subprocess.run(
        [sys.executable, "-m", "hub", "rules", "test", "--rules", str(rules)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout
    assert " 0 failed" in tested.stdout

    write(rules, "05-awal.yaml", "rules:\n  - {id: semua-ke-kpk, route: [kpk]}\n")
    failing = subprocess.run(
        [sys.executable, "-m", "hub", "rules", "test", "--rules", str(rules)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failing.returncode == 1
    assert (
        "FAIL" in failing.stdout
        and "to: expected ['pemkot-surabaya'], got ['kpk']" in failing.stdout
    )


def test_unmatched_reports_go_to_the_fallback_and_are_counted() -> None:
    from prometheus_client import REGISTRY

    def scraped() -> float:
        return REGISTRY.get_sample_value("lapor_routing_decisions_total", {"outcome": "unmatched"})

    before = scraped()
    decision = ROUTER.decide(report("Tetangga memelihara burung berisik.", None))
    assert decision.handlers == ["admin-nasional"] and decision.fallback
    assert decision.reason == "unmatched"
    assert scraped() == before + 1


def test_re_routing_excludes_who_refused_and_escalates_instead_of_looping() -> None:
    road = report("Jalan berlubang di jalur provinsi.", "35.78")
    chain: list[str] = []
    seen = []
    for _ in range(6):
        decision = ROUTER.decide(road, excluded=chain, transfers=len(chain))
        seen.append(decision.handlers[0])
        if decision.escalated:
            break
        chain.append(decision.handlers[0])
    # the text names a provincial road: the province first; when it refuses, the affair's
    # owner at the centre, then the local government, then the national administrator
    assert seen == ["pemprov-jawa-timur", "kemen-pu", "pemkot-surabaya", "admin-nasional"]
    assert decision.escalated and decision.excluded == chain
    assert "passed on 3 times" in decision.reason


def test_the_decision_record_fits_the_routing_decision_schema() -> None:
    decision = ROUTER.decide(
        report("Petugas minta uang untuk KTP.", None, location={"address": "Kel. Braga, Bandung"})
    )
    record = decision.to_record()
    codec = SingleObjectCodec(SchemaStore(default_schema_dir()))
    assert codec.decode("RoutingDecision", codec.encode("RoutingDecision", record)) == record
    assert record["destinations"] == [
        {"agency": "pemkot-bandung", "role": "HANDLER"},
        {"agency": "ombudsman-ri", "role": "COPY"},
    ]
    assert record["priority"] == "HIGH" and record["rules_version"] == ROUTER.version
    located = decision.located(report("x", None, location={"address": "Kel. Braga, Bandung"}))
    assert located["location"]["region_code"] == "32.73.19.1001"
    assert located["location"]["region_confidence"] == pytest.approx(0.9)


def test_rules_reload_without_a_restart_and_a_bad_edit_is_refused(rules: Path) -> None:
    live = ReloadingRouter(rules, interval=0, background=False)
    road = report("Jalan berlubang.", "35.78")
    assert live.router.decide(road).handlers == ["pemkot-surabaya"]
    old_version = live.router.version

    write(
        rules,
        "05-awal.yaml",
        "rules:\n  - {id: jalan-ke-pu, when: {words: berlubang}, route: [kemen-pu]}\n",
    )
    assert live.router.decide(road).handlers == ["kemen-pu"]
    assert live.router.version != old_version

    write(rules, "05-awal.yaml", "rules:\n  - {id: rusak, route: [tidak-ada]}\n")
    assert live.router.decide(road).handlers == ["kemen-pu"], "the last good rules stay in use"
    assert live.last_error and "tidak-ada" in live.last_error


def test_rules_whose_reload_cannot_be_recorded_are_not_used(rules: Path) -> None:
    """The audit trail holds a reload before the rules are used: if it cannot be written,
    the rules the hub had stay in use, and ``last_error`` says why."""
    told: list[tuple[str, str, str]] = []

    def audit(old: str, new: str, outcome: str) -> None:
        told.append((old, new, outcome))
        if outcome == "ok" and len(told) == 1:
            raise RuntimeError("the audit record of rules.reload could not be written")

    live = ReloadingRouter(rules, interval=0, background=False, on_reload=audit)
    road = report("Jalan berlubang.", "35.78")
    before = live.router.version
    rule = "rules:\n  - {id: jalan-ke-pu, when: {words: berlubang}, route: [kemen-pu]}\n"
    write(rules, "05-awal.yaml", rule)
    assert live.router.decide(road).handlers == ["pemkot-surabaya"], "unrecorded: not used"
    assert live.router.version == before
    assert live.last_error and "could not be recorded" in live.last_error

    write(rules, "05-awal.yaml", rule + "# saved again\n")  # the operator saves again
    assert live.router.decide(road).handlers == ["kemen-pu"]
    assert told[-1][2] == "ok" and live.last_error is None


def test_a_reload_happens_in_the_background(rules: Path) -> None:
    live = ReloadingRouter(rules, interval=0)
    road = report("Jalan berlubang.", "35.78")
    write(
        rules,
        "05-awal.yaml",
        "rules:\n  - {id: jalan-ke-pu, when: {words: berlubang}, route: [kemen-pu]}\n",
    )
    deadline = time.monotonic() + 30
    while live.router.decide(road).handlers != ["kemen-pu"]:
        assert time.monotonic() < deadline, "the new rules were never swapped in"
        time.sleep(0.05)


def test_location_aliases_postal_codes_and_ambiguity() -> None:
    resolver = LocationResolver({"kutim": "Kabupaten Kutai Timur"})
    assert resolver.resolve({"address": "Sangatta, KUTIM"}).region_code == "64.08"
    assert resolver.resolve({"address": "Bandung 40111"}).region_code.startswith("32.73")
    ambiguous = resolver.resolve({"address": "Kelurahan Sukajadi"})
    assert ambiguous.region_code is None and ambiguous.ambiguous
    assert "ambiguous" in ambiguous.note and "Kota Pekanbaru" in ambiguous.note
    cut = resolver.resolve({"address": "Desa Sukamaju, Kab. Bogor"})  # several Sukamaju there
    assert cut.region_code == "32.01" and cut.confidence == pytest.approx(0.9)
    both = resolver.resolve({"address": "Bogor"})  # the kabupaten and the kota
    assert both.region_code == "32" and both.confidence == pytest.approx(0.6)
    assert "Kabupaten Bogor" in both.note and "Kota Bogor" in both.note
    given = resolver.resolve({"region_code": "35.78", "address": "Bandung"})
    assert given.region_code == "35.78" and given.source == "report"


def test_the_directory_holds_every_regional_government_from_the_data_package() -> None:
    directory = load_directory(default_rules_dir() / "directory")
    kinds = [a.kind.value for a in directory.agencies.values()]
    assert kinds.count("province") == 38
    assert kinds.count("regency") + kinds.count("city") == 514
    assert directory.parents("pemkab-merauke") == [
        "pemprov-papua-selatan",
        "kemendagri",
        "admin-nasional",
    ]
    assert directory.connector_of("pemkot-surabaya") == "open311-surabaya"
    assert directory.connector_of("pemkab-garut") == directory.default_connector
    generated = generate_regions("kemendagri")["agencies"]
    on_disk = [
        a.model_dump(exclude_none=True, exclude={"categories"})
        for a in directory.agencies.values()
        if a.region
    ]
    assert len(generated) == len(on_disk) == 552
    assert {a["id"] for a in generated} == {a["id"] for a in on_disk}, "regions.yaml is stale"


def test_rules_check_questions_an_affair_sent_where_the_directory_says_no_one_owns_it(
    tmp_path,
) -> None:
    """The authority table and the rules are cross-checked against the directory's category
    ownership: an affair whose centre does not own it, or sent to a level that does not."""
    folder = shutil.copytree(default_rules_dir(), tmp_path / "routing_rules")
    table = folder / "authority.yaml"
    table.write_text(
        table.read_text(encoding="utf-8").replace(
            '    centre: kemen-pu\n    basis: "UU 23/2014 lampiran I huruf C (PU) dan',
            '    centre: kemenkes\n    basis: "UU 23/2014 lampiran I huruf C (PU) dan',
        ),
        encoding="utf-8",
    )
    with pytest.raises(RulesError) as refused:  # a conflict refuses the rules whole
        build_router(folder)
    assert "infrastruktur.jalan: centre kemenkes does not own it" in str(refused.value)
    assert "routes infrastruktur.jalan to kemenkes" in str(refused.value)
    assert not check_rules(build_router(default_rules_dir()))


def test_a_key_given_twice_in_a_rules_file_is_refused_with_its_line(tmp_path) -> None:
    """YAML lets the second of two equal keys silently win: a rule's unless_words written
    twice would drop the first list. The loader refuses it, naming the line."""
    folder = shutil.copytree(default_rules_dir(), tmp_path / "routing_rules")
    (folder / "rules" / "05-dua-kali.yaml").write_text(
        "rules:\n"
        "  - id: dua-kali\n"
        "    when:\n"
        "      words: [jalan tol]\n"
        "      unless_words: [gerbang]\n"
        "      unless_words: [tarif]\n"
        "    route: [bpjt]\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesError, match=r"05-dua-kali.yaml:6: rules\[0\].when: 'unless_words'"):
        load_rules(folder)


def test_a_phrase_is_not_read_across_the_title_and_the_body(rules: Path) -> None:
    """Title "... lampu merah mati", body "Lampu merah ...": no "mati lampu" (a power cut)
    was said; the same words inside the body are one, and one word counts wherever it is."""
    write(
        rules,
        "05-frasa.yaml",
        "rules:\n  - id: padam\n    description: t\n    when:\n      words: [mati lampu]\n"
        "    route: [pln]\n",
    )
    router = build_router(rules)
    across = report("Lampu merah di simpang dekat kantor camat mati total.", "64.72")
    across["title"] = "lampu merah mati"
    assert "padam" not in router.decide(across).matched_rules
    inside = report("sudah tiga hari mati lampu di rumah kami, kulkas rusak.", "64.72")
    assert router.decide(inside).matched_rules[:1] == ["padam"]
    titled = report("lampu di rumah kami.", "64.72", title="Sudah tiga hari mati")
    assert "padam" not in router.decide(titled).matched_rules
    titled["title"] = "Mati lampu"
    assert router.decide(titled).matched_rules[:1] == ["padam"]
