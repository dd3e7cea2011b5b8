"""Routing decisions per second on one core with 10, 1,000 and 10,000 rules, beside a bare
Aho-Corasick scan of the same texts, and the router's accuracy on the evaluation corpus.

The rule sets are realistic in shape: the shipped rules (routing_rules/), then per-region
rules of the kind agencies add (a kabupaten/kota routing a topic to its own office, a
province taking a topic for all its kabupaten), written as YAML and loaded through the same
validation and compilation as the real ones. The 10-rule set is the first ten shipped rules.
Reports are the sample generator's (Indonesian text, 300 to 2,000 bytes) placed in random
kabupaten/kota, with an address naming that kabupaten/kota (as an agency app's report
would), so region-specific rules do apply. Each figure is the median of 5 rounds.

The reference, timed in the same rounds as the 1,000-rule router: a bare pyahocorasick
scan (``ahocorasick.Automaton``) over the keys of those 1,000 rules' words and unless_words
(spelled variants included: the rule keys the router's own scan holds, which also holds
the gazetteer's place keys), each report's title and body normalized by
``hub.routing.text.normalize`` and every match iterated. A decision does that scan's work
and the rest of routing (the place check, region, fields, candidates, the outcome);
ratio_vs_scan is the router's decisions/s over the scan's scans/s.

Accuracy: the shipped rules on routing_eval/corpus/ (hub.routing.evaluate), the shares of
its reports sent to the right agency, to the fallback though a handler existed, and to a
wrong agency; cases=0 while the corpus has no reports. An invalid corpus stops the run
first, with its errors.

The last two lines are the summaries, accuracy first:
    routing-accuracy: correct_pct=N fallback_pct=N wrong_agency_pct=N cases=N
    routing: per_s_at_1000=N ratio_10000_vs_10=R ratio_vs_scan=R
Usage: python bench/routing.py [--reports N] [--rounds N] [--python-scan]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import ahocorasick
import yaml

from hub.routing import Router, build_router, default_rules_dir, load_directory, load_rules
from hub.routing.evaluate import default_corpus_dir, evaluate
from hub.routing.scan import PythonScan, candidate_scan
from hub.routing.text import normalize
from hub.samples import sample_report

TOPICS = [
    ("sampah", ["sampah", "tps", "kebersihan"]),
    ("jalan", ["jalan rusak", "berlubang", "aspal"]),
    ("banjir", ["banjir", "genangan", "drainase"]),
    ("air", ["pdam", "air bersih", "air keruh"]),
    ("adminduk", ["ktp", "kartu keluarga", "akta kelahiran"]),
    ("sekolah", ["sekolah", "ppdb", "zonasi"]),
    ("kesehatan", ["puskesmas", "rsud", "bidan"]),
    ("ketertiban", ["pkl", "parkir liar", "preman"]),
    ("bansos", ["bansos", "pkh", "bpnt"]),
    ("desa", ["dana desa", "kepala desa", "apbdes"]),
    ("perizinan", ["izin usaha", "pbg", "perizinan"]),
    ("angkutan", ["angkot", "terminal", "ojek"]),
    ("pasar", ["pasar", "retribusi pasar", "los pasar"]),
    ("lampu", ["lampu jalan", "pju", "penerangan jalan"]),
    ("taman", ["taman kota", "ruang terbuka hijau", "rth"]),
    ("pajak", ["pbb", "bphtb", "pajak restoran"]),
    ("asn", ["pegawai kelurahan", "camat", "lurah"]),
    ("kebakaran", ["kebakaran", "damkar", "pemadam"]),
    ("pungli", ["pungli", "minta uang", "biaya tambahan"]),
    ("umkm", ["umkm", "pelatihan usaha", "bantuan modal"]),
]


def rule_set(size: int, folder: Path, scan=candidate_scan) -> Router:
    """A routing_rules copy with ``size`` rules in all, loaded the way the hub loads it."""
    base = load_rules(default_rules_dir())
    directory = load_directory(default_rules_dir() / "directory")
    rules_dir = folder / "rules"
    if size <= len(base.rules):
        for path in rules_dir.glob("*.yaml"):
            path.unlink()
        kept = [
            p.rule.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            for p in base.rules[:size]
        ]
        (rules_dir / "10-base.yaml").write_text(yaml.safe_dump({"rules": kept}, allow_unicode=True))
    else:
        agencies = sorted(directory.agencies.values(), key=lambda a: a.id)
        locals_ = [a for a in agencies if a.kind.value in ("city", "regency")]
        provinces = [a for a in agencies if a.kind.value == "province"]
        extra = []
        for agency in [*provinces[:5], *locals_]:
            for topic, words in TOPICS:
                extra.append(
                    {
                        "id": f"{agency.id}-{topic}",
                        "description": f"{topic} di wilayah {agency.name}",
                        "when": {"region": agency.region, "words": words},
                        "route": [agency.id],
                    }
                )
                if len(extra) == size - len(base.rules):
                    break
            if len(extra) == size - len(base.rules):
                break
        # agency-specific rules come first: they refine the national ones
        (rules_dir / "05-daerah.yaml").write_text(
            yaml.safe_dump({"rules": extra}, allow_unicode=True)
        )
    router = Router(load_rules(folder), directory, scan=scan)
    router.warm_up()  # as the hub does: the text scan is built for the first decision
    # the set's own rules; the router adds one per national agency named in the directory
    assert len(router.loaded.rules) == size, (len(router.loaded.rules), size)
    return router


def bare_scan(router: Router) -> ahocorasick.Automaton:
    """An automaton over the keys of ``router``'s words and unless_words (" jalan rusak ")."""
    automaton = ahocorasick.Automaton()
    for condition in (*router.words, *router.unless):
        for key in condition.keys if condition else ():
            automaton.add_word(key, key)
    automaton.make_automaton()
    return automaton


def scans_per_s(automaton: ahocorasick.Automaton, reports: list[dict]) -> float:
    """Reports' title and body normalized and scanned, every match iterated, per second."""
    started = time.perf_counter()
    for report in reports:
        text = normalize(f"{report.get('title') or ''}\n{report.get('body') or ''}")
        for _ in automaton.iter(text):
            pass
    return len(reports) / (time.perf_counter() - started)


def accuracy_line() -> tuple[str, str]:
    """What the shipped rules get right on the evaluation corpus: a line for people and
    the summary line."""
    corpus = default_corpus_dir()
    evaluation = evaluate(build_router(default_rules_dir()), corpus)
    summary = evaluation.summary()
    levels = ", ".join(
        f"{level} {row['correct_pct']}% of {row['cases']}"
        for level, row in summary["by_level"].items()
        if row["cases"]
    )
    said = (
        f"accuracy on {summary['cases']} reports of {corpus} (rules {evaluation.rules_version}): "
        f"{levels or 'no reports yet'}; copies correct {summary['copies_correct_pct']}%"
    )
    line = (
        f"routing-accuracy: correct_pct={summary['correct_pct']} "
        f"fallback_pct={summary['fallback_pct']} "
        f"wrong_agency_pct={summary['wrong_agency_pct']} cases={summary['cases']}"
    )
    return said, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--python-scan",
        action="store_true",
        help="the Python text scan even if the Rust one is built",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})

    # first, so an invalid corpus stops the run before minutes of timing
    accuracy_said, accuracy = accuracy_line()

    directory = load_directory(default_rules_dir() / "directory")
    locals_ = [a for a in directory.agencies.values() if a.kind.value in ("city", "regency")]
    regions = [a.region for a in locals_]
    names = {a.region: a.name.removeprefix("Pemerintah ") for a in locals_}
    rng = random.Random(1708)

    def fresh_reports() -> list[dict]:
        reports = []
        for _ in range(args.reports):
            report = sample_report(rng)
            code = rng.choice(regions)  # the address says the same place, as an app's would
            report["location"] = {
                **report["location"],
                "region_code": code,
                "address": names[code],
                "postal_code": None,  # the sample's belongs to the place it was written for
            }
            reports.append(report)
        return reports

    # every round decides reports it has not seen: what the router remembers (the rules a
    # combination of fields allows, the outcome of a set of candidates in a region) helps
    # only as much as real traffic repeats itself
    warm_up, *rounds = [fresh_reports() for _ in range(args.rounds + 1)]

    rates: dict[int, float] = {}
    scan_rate = 0.0
    for size in (10, 1_000, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(shutil.copytree(default_rules_dir(), Path(tmp) / "routing_rules"))
            started = time.perf_counter()
            router = rule_set(size, folder, PythonScan if args.python_scan else candidate_scan)
            loaded = time.perf_counter() - started
            for report in warm_up:  # a running hub has decided reports before
                router.decide(report)
            automaton = bare_scan(router) if size == 1_000 else None
            if automaton is not None:
                scans_per_s(automaton, warm_up)
            runs, scans = [], []
            for reports in rounds:
                started = time.perf_counter()
                for report in reports:
                    router.decide(report)
                runs.append(len(reports) / (time.perf_counter() - started))
                if automaton is not None:  # the reference, in the same rounds
                    scans.append(scans_per_s(automaton, reports))
            rates[size] = statistics.median(runs)
            outcomes = router.counts
            print(
                f"{size:>6} rules: {rates[size]:>9,.0f} decisions/s, text scan {router.scan.name} "
                f"(loaded and compiled in {loaded:.2f} s; outcomes {dict(outcomes)})"
            )
            if automaton is not None:
                scan_rate = statistics.median(scans)
                print(
                    f"        bare pyahocorasick scan of the same texts: {scan_rate:>9,.0f} "
                    f"scans/s ({len(automaton):,} keys of these {size:,} rules)"
                )
    ratio = rates[10_000] / rates[10]
    print(accuracy_said)
    print(accuracy)
    print(
        f"routing: per_s_at_1000={rates[1_000]:.0f} ratio_10000_vs_10={ratio:.2f} "
        f"ratio_vs_scan={rates[1_000] / scan_rate:.2f}"
    )


if __name__ == "__main__":
    main()
