"""Scoring the router on an evaluation corpus (hub.routing.evaluate, `lapor-hub rules
eval`): correct, fallback, wrong agency, a unit counted for its agency, unknown agency ids,
copies, and corpus errors with file and line. The rules and directory are a small set of
the test's own, so the verdicts do not move when the shipped rules do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.errors import RulesError
from hub.routing import build_router
from hub.routing.evaluate import evaluate, load_corpus

NATIONAL = """
default_connector: lapor-nasional
fallback: admin-nasional
regional_parent: kemendagri
regional_categories: {province: [], regency_city: []}
categories: {}
agencies:
  - {id: admin-nasional, name: Pengelola Nasional, kind: national}
  - {id: kemendagri, name: Kemendagri, kind: ministry, parent: admin-nasional}
  - {id: kemen-pu, name: Kementerian PU, kind: ministry, parent: admin-nasional}
  - {id: polri, name: Polri, kind: institution, parent: admin-nasional}
  - {id: polda-jawa-timur, name: Polda Jawa Timur, kind: institution, region: "35", parent: polri}
  - {id: ombudsman-ri, name: Ombudsman RI, kind: institution, parent: admin-nasional}
  - {id: kpk, name: KPK, kind: institution, parent: admin-nasional}
"""
REGIONS = """
source: test
agencies:
  - {id: pemprov-jawa-timur, name: Provinsi Jawa Timur, kind: province, region: "35", parent: kemendagri}
  - {id: pemkab-pacitan, name: Kabupaten Pacitan, kind: regency, region: "35.01", parent: pemprov-jawa-timur}
  - {id: pemkot-surabaya, name: Kota Surabaya, kind: city, region: "35.78", parent: pemprov-jawa-timur}
"""
RULES = """
rules:
  - {id: polisi, description: polisi ke Polda, when: {words: [polisi]}, route: [polda-jawa-timur], copy: [ombudsman-ri]}
  - {id: jalan-tol, when: {words: [jalan tol]}, route: [kemen-pu]}
  - {id: jalan, when: {words: [jalan rusak]}, route: [pemda_kabupaten_kota]}
"""
CORPUS = """
reports:
  - id: jalan-kota
    kind: pengaduan
    channel: SMS
    title: ""
    text: "jln rusak di depan pasar"
    region: "35.78"
    address: null
    expect: {to: pemkot-surabaya, copy: [], level: kabupaten_kota, why: "UU 23/2014 lampiran"}
  - id: jalan-provinsi
    text: "jalan rusak di ruas provinsi Pacitan"
    region: 3501
    expect: {to: pemprov-jawa-timur, level: province, why: "jalan provinsi"}
  - id: lampu-jalan-nasional
    kind: permintaan informasi
    text: "lampu penerangan di jalan nasional mati"
    expect: {to: [kemen-pu], level: ministry}
  - id: polisi-pungli
    kind: COMPLAINT
    text: "polisi minta uang damai saat tilang"
    region: "35.78"
    expect: {to: polri, copy: [ombudsman-ri], level: institution}
  - id: polisi-tanpa-tembusan
    channel: MOBILE
    text: "polisi lalu lintas tidak ramah"
    expect: {to: polri, level: institution}
  - id: polres-pacitan
    text: "polisi di Pacitan menahan KTP saya"
    expect: {to: polres-pacitan, level: institution, why: "unit baru, belum di direktori"}
  - id: tanpa-instansi
    kind: aspirasi
    text: "terima kasih atas pelayanannya"
    expect: {to: admin-nasional, level: fallback}
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    (folder / "directory").mkdir(parents=True)
    (folder / "rules").mkdir()
    (folder / "ruleset.yaml").write_text('version: "test"\n')
    (folder / "spelling.yaml").write_text("jalan: [jln]\n")
    (folder / "aliases.yaml").write_text("{}\n")
    (folder / "directory" / "national.yaml").write_text(NATIONAL)
    (folder / "directory" / "regions.yaml").write_text(REGIONS)
    (folder / "rules" / "10-test.yaml").write_text(RULES)
    return folder


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "10-test.yaml").write_text(CORPUS)
    return folder


def verdicts(evaluation) -> dict[str, str]:
    return {s.report.name: s.verdict for s in evaluation.scored}


def test_each_report_gets_its_verdict(rules_dir: Path, corpus_dir: Path) -> None:
    evaluation = evaluate(build_router(rules_dir), corpus_dir)
    assert verdicts(evaluation) == {
        "jalan-kota": "correct",
        # the kabupaten is not a unit of its province: a level error, not a unit
        "jalan-provinsi": "wrong_agency",
        "lampu-jalan-nasional": "fallback",
        "polisi-pungli": "correct",  # polda-jawa-timur is a unit of polri
        "polisi-tanpa-tembusan": "correct",
        "polres-pacitan": "unknown_agency",
        "tanpa-instansi": "correct",
    }
    scored = {s.report.name: s for s in evaluation.scored}
    assert scored["polisi-pungli"].decided_level == "institution"
    assert scored["polisi-pungli"].copies_correct
    assert not scored["polisi-tanpa-tembusan"].copies_correct, "an Ombudsman copy not expected"
    assert scored["jalan-provinsi"].decided_level == "kabupaten_kota"
    assert scored["tanpa-instansi"].decided_level == "fallback"
    assert scored["polres-pacitan"].reason == "unknown agency id: polres-pacitan"
    assert scored["jalan-kota"].where.endswith("10-test.yaml:3")
    assert scored["jalan-kota"].report.report()["source"] == {"channel": "SMS"}
    assert scored["polisi-tanpa-tembusan"].report.channel == "MOBILE_APP"


def test_the_summary_and_the_confusion_table(rules_dir: Path, corpus_dir: Path) -> None:
    evaluation = evaluate(build_router(rules_dir), corpus_dir)
    summary = evaluation.summary()
    assert summary["cases"] == 7
    assert summary["correct"] == 4
    assert summary["correct_pct"] == 57.1
    assert summary["fallback_pct"] == 14.3
    assert summary["wrong_agency_pct"] == 14.3
    assert summary["unknown_agency"] == 1
    assert summary["copies_correct_pct"] == 71.4  # 5 of 7: an unwanted copy, an unknown case
    assert summary["by_level"]["institution"] == {"cases": 3, "correct": 2, "correct_pct": 66.7}
    assert summary["by_level"]["province"]["correct_pct"] == 0.0
    confusion = evaluation.confusion()
    assert confusion["province"] == {"kabupaten_kota": 1}
    assert confusion["ministry"] == {"fallback": 1}
    assert confusion["institution"] == {"institution": 3}
    assert evaluation.corpus_errors == [
        "agency id 'polres-pacitan' is not in the directory (named in "
        f"{corpus_dir / '10-test.yaml'}:28)"
    ]
    misses = {m["id"]: m for m in evaluation.to_json()["misses"]}
    assert set(misses) == {"jalan-provinsi", "lampu-jalan-nasional", "polres-pacitan"}
    assert misses["jalan-provinsi"]["why"] == "jalan provinsi"
    assert misses["lampu-jalan-nasional"]["reason"] == "unmatched"
    assert misses["lampu-jalan-nasional"]["location"].startswith("no region code")


def test_a_missing_or_empty_corpus_has_no_cases(rules_dir: Path, tmp_path: Path) -> None:
    router = build_router(rules_dir)
    assert evaluate(router, tmp_path / "nowhere").summary()["cases"] == 0
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "being-written.yaml").write_text("# reports come later\n")
    summary = evaluate(router, tmp_path / "empty").summary()
    assert summary["cases"] == 0 and summary["correct_pct"] == 0.0


def test_invalid_yaml_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("reports:\n  - id: x\n    text: [unclosed\n")
    with pytest.raises(RulesError) as raised:
        load_corpus(tmp_path)
    assert f"{tmp_path / 'a.yaml'}:" in raised.value.message
    assert "not valid YAML" in raised.value.message


def test_every_invalid_entry_is_reported_with_file_line_and_path(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(
        "reports:\n"
        "  - id: satu\n"
        "    text: jalan rusak\n"
        "    expect: {to: pemkot-surabaya, level: kota}\n"
        "  - id: dua\n"
        "    text: jalan rusak\n"
        "    region: 35.10\n"
        "    expected: {to: pemkot-surabaya, level: kabupaten_kota}\n"
        "  - id: satu\n"
        "    kind: keluhan\n"
        "    text: sampah\n"
        "    expect: {to: [], level: fallback}\n"
    )
    with pytest.raises(RulesError) as raised:
        load_corpus(tmp_path)
    message, path = raised.value.message, tmp_path / "b.yaml"
    assert f"{path}:4: reports[0].expect.level:" in message
    assert f"{path}:7: reports[1].region:" in message and "quote the region code" in message
    assert f"{path}:8: reports[1].expected: unknown key 'expected'" in message
    assert f"{path}:10: reports[2].kind:" in message and "unknown kind 'keluhan'" in message
    assert f"{path}:12: reports[2].expect.to:" in message


def test_an_id_used_twice_is_an_error(tmp_path: Path) -> None:
    entry = "  - {id: sama, text: x, expect: {to: kpk, level: institution}}\n"
    (tmp_path / "c.yaml").write_text("reports:\n" + entry + entry)
    with pytest.raises(RulesError, match=r"c.yaml:3: id 'sama' is used before, at .*c.yaml:2"):
        load_corpus(tmp_path)


def test_the_command_prints_json_and_honours_min_correct(rules_dir: Path, corpus_dir: Path) -> None:
    runner = CliRunner()
    args = ["rules", "eval", "--corpus", str(corpus_dir), "--rules", str(rules_dir)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["correct_pct"] == 57.1 and len(data["misses"]) == 3
    assert (
        json.loads(runner.invoke(app, [*args, "--json", "--no-misses"]).stdout)
        .keys()
        .isdisjoint({"misses"})
    )
    table = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert table.exit_code == 0
    assert "jalan-provinsi" in table.stdout and "jalan provinsi" in table.stdout
    assert runner.invoke(app, [*args, "--min-correct", "50"]).exit_code == 0
    assert runner.invoke(app, [*args, "--min-correct", "60"]).exit_code == 1


def test_an_invalid_corpus_exits_2(rules_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("reports:\n  - id: x\n")
    command = ["rules", "eval", "--corpus", str(tmp_path), "--rules", str(rules_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "hub", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path / 'bad.yaml'}:2: reports[0].text: Field required" in done.stderr
