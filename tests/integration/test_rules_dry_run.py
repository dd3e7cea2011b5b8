"""`lapor-hub rules dry-run` against a real broker: reports routed by the route worker with
the published rules, then re-decided with a changed copy of them; the command says which
would move where, compared with the decisions the reports got (lapor.routed) or with
decisions re-made by the rules it is told to compare with.

The shared broker's lapor.reports holds other tests' reports too: each test's reports come
through a connector instance of its own, and the command is told to look at that one only.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer

from hub import topics
from hub.dataplane.route import route_loop
from hub.routing import default_rules_dir
from hub.sdk import hub_id
from tests.conftest import hub_cli
from tests.helpers import unique

pytestmark = pytest.mark.kafka

# (tracking id, text): three about rubbish (sampah), three about something else
REPORTS = [
    ("S-1", "Sampah menumpuk di TPS pasar, tidak diangkut dua minggu."),
    ("S-2", "Truk sampah tidak lewat lagi di kampung kami, baunya ke mana-mana."),
    ("S-3", "Tumpukan sampah di pinggir kali makin tinggi."),
    ("J-1", "Jalan berlubang di depan kampus, banyak motor jatuh."),
    ("J-2", "Jalan rusak parah dan berlubang di sekitar perumahan kami."),
    ("T-1", "Terima kasih, pelayanan di kantor kelurahan sekarang cepat dan ramah."),
]
RUBBISH = {"S-1", "S-2", "S-3"}


def run_until(loop, consumed: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while loop.stats.consumed < consumed and time.monotonic() < deadline:
        loop.step(0.2)
    loop.flush()  # commit what is open
    assert loop.stats.consumed >= consumed


def dry_run(bootstrap: str, *args: str) -> dict:
    done = hub_cli(bootstrap, "rules", "dry-run", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def routed(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Six reports routed through the route worker with a copy of the published rules; a
    changed copy sends rubbish to the province instead of the kota (Kota Malang)."""
    folder = tmp_path_factory.mktemp("dry-run")
    published = Path(shutil.copytree(default_rules_dir(), folder / "published"))
    changed = Path(shutil.copytree(published, folder / "changed"))
    rule = {
        "id": "uji-sampah-provinsi",
        "description": "uji: sampah ke pemerintah provinsi",
        "when": {"words": ["sampah"]},
        "route": ["pemda_provinsi"],
    }
    (changed / "rules" / "00-uji.yaml").write_text(yaml.safe_dump({"rules": [rule]}))

    source = unique("lapor-dryrun")
    config = folder / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "group_prefix": unique("dryrun"),
                "rules": str(published),
                "connectors": {
                    source: {"type": "lapor-json", "agency": "admin-nasional"},
                    # where Kota Malang, Jawa Timur and the national administrator are reached
                    "lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"},
                },
            }
        )
    )
    started = datetime.now(UTC) - timedelta(seconds=5)
    loop = route_loop(config, "w1", kafka_bootstrap)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for tracking, text in REPORTS:
        document = {
            "tracking_id": tracking,
            "jenis": "pengaduan",
            "isi": text,
            "dibuat_pada": "2026-12-06T09:00:00+07:00",
            "lokasi": {"kode_wilayah": "35.73"},
        }
        producer.produce(
            topics.inbound(source),
            key=tracking.encode(),
            value=json.dumps(document).encode(),
            headers={"content-type": b"application/json"},
        )
    assert producer.flush(30) == 0
    run_until(loop, len(REPORTS))
    loop.consumer.close()
    return {
        "source": source,
        "since": started.isoformat(),
        "published": published,
        "changed": changed,
        "rubbish": {hub_id(source, t) for t in RUBBISH},
    }


def test_moves_are_counted_against_the_decisions_the_reports_got(
    kafka_bootstrap: str, routed: dict
) -> None:
    result = dry_run(
        kafka_bootstrap,
        *("--since", routed["since"], "--rules", str(routed["changed"])),
        *("--connector", routed["source"]),
    )
    assert result["re_decided"] == 6
    assert result["compared_with"] == {"stored": 6, "re_decided": 0}, "lapor.routed has them"
    assert result["moved"] == 3 and result["unchanged"] == 3
    assert result["baseline_version"] is None
    [move] = result["moves"]
    assert move["from"] == ["pemkot-malang"] and move["to"] == ["pemprov-jawa-timur"]
    assert move["count"] == 3 and set(move["examples"]) == routed["rubbish"]


def test_against_other_rules_and_a_limit(kafka_bootstrap: str, routed: dict) -> None:
    common = ("--rules", str(routed["changed"]), "--connector", routed["source"])
    since = ("--since", routed["since"])
    # the published rules against themselves: nothing moves (--since as a duration)
    same = dry_run(
        kafka_bootstrap,
        *("--since", "10m", "--rules", str(routed["published"])),
        *("--against", str(routed["published"]), "--connector", routed["source"]),
    )
    assert (same["re_decided"], same["moved"], same["moves"]) == (6, 0, [])
    assert same["compared_with"] == {"stored": 0, "re_decided": 6}

    against = dry_run(kafka_bootstrap, *since, "--against", str(routed["published"]), *common)
    assert (against["re_decided"], against["moved"]) == (6, 3)
    assert against["baseline_version"] == same["rules_version"]

    limited = dry_run(kafka_bootstrap, *since, "--limit", "4", *common)
    assert limited["re_decided"] == 4
    assert limited["moved"] + limited["unchanged"] == 4 and limited["moved"] <= 3

    # reports written after the window's start only: none from a minute in the future
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert dry_run(kafka_bootstrap, "--since", later, *common)["re_decided"] == 0


def test_the_table_an_operator_reads(kafka_bootstrap: str, routed: dict) -> None:
    done = hub_cli(
        kafka_bootstrap,
        *("rules", "dry-run", "--since", routed["since"]),
        *("--rules", str(routed["changed"]), "--connector", routed["source"]),
    )
    assert done.returncode == 0, done.stderr
    assert "re-decided 6 reports" in done.stdout
    assert "moved 3  unchanged 3" in done.stdout
    row = next(line for line in done.stdout.splitlines() if "pemprov-jawa-timur" in line)
    assert "pemkot-malang" in row and " 3 " in row


def test_a_since_that_is_no_time_is_refused(kafka_bootstrap: str) -> None:
    done = hub_cli(kafka_bootstrap, "rules", "dry-run", "--since", "kemarin")
    assert done.returncode == 2
    assert "'kemarin' is neither a duration" in done.stderr
