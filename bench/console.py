"""The console's page times with many reports tracked (default 100,000).

On a broker of the run's own, the tracker's table is filled with REPORTS states made by the
tracker's own lifecycle (hub.tracker.lifecycle: a routing decision per report, statuses for
most, a share of them long overdue), written to its changelog as the tracker writes them.
Then `lapor-hub console` is started as an operator runs it, a national operator logs in,
and once the console has read them all, report pages (random reports) and SLA pages (all
agencies, then filtered by province and by ministry) are fetched one after another while
nothing else runs; each request's wall time is measured at the client.

Last line: ``console: p95_ms_report_page=N p95_ms_sla_page=N reports=N``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import base64
import json
import os
import random
import re
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta

import httpx
import yaml

from hub import topics
from hub.kafka import ensure_topics, make_admin, make_producer
from hub.samples import sample_report
from hub.sdk.reports import hub_id
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from hub.tracker import lifecycle

PREFIX = "bench-console"
PASSWORD = "bench-console-password"
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
STATUSES = ("RECEIVED", "VERIFIED", "IN_PROGRESS", "RESOLVED")


def agencies() -> list[str]:
    from hub.ops.assign import directory_of
    from hub.routing import default_rules_dir

    directory = directory_of(default_rules_dir())
    return sorted(a for a in directory.agencies if a != directory.fallback)


def make_states(count: int, seed: int = 7):
    """(hub id, the tracker's state as JSON) for ``count`` reports."""
    rng = random.Random(seed)
    handlers = agencies()
    sla = lifecycle.SlaDefaults()
    now = datetime.now(UTC)
    for number in range(count):
        sample = sample_report(rng)
        source_id = f"B-{number:07d}"
        received = now - timedelta(days=rng.choice((0, 1, 3, 8, 20, 45)), minutes=number % 600)
        report = {
            **sample,
            "source": {**sample["source"], "connector": "lapor-nasional", "source_id": source_id},
            "hub_id": hub_id("lapor-nasional", source_id),
            "received_at": received,
        }
        handler = rng.choice(handlers)
        decision = {
            "hub_id": report["hub_id"],
            "destinations": [{"agency": handler, "role": "HANDLER"}],
            "matched_rules": ["bench"],
            "rules_version": "bench",
            "reason": "bench",
            "decided_at": received,
            "priority": None,
            "sla_working_days": None,
            "fallback": False,
            "escalated": False,
        }
        encoded = base64.b64encode(SERIALIZER.serialize(topics.REPORTS, report)).decode()
        state = lifecycle.empty_state(report["hub_id"])
        lifecycle.apply_decision(state, report, encoded, decision, sla)
        moment = received
        for status in STATUSES[: rng.randrange(len(STATUSES) + 1)]:
            moment += timedelta(hours=rng.randrange(1, 30))
            update = lifecycle.hub_status(state, handler, status, moment, "bench")
            lifecycle.apply_status(state, update, sla)
        lifecycle.apply_tick(state, now, sla)
        yield report["hub_id"], json.dumps(state, default=str).encode()


def fill(bootstrap: str, count: int, partitions: int) -> list[str]:
    from hub.kafka import TopicSpec
    from hub.topic_specs import COMPACT

    changelog = topics.tracker_changelog(PREFIX)
    ensure_topics(make_admin(bootstrap), [TopicSpec(changelog, partitions, 1, COMPACT)])
    producer = make_producer(bootstrap, linger_ms=50)
    ids = []
    started = time.monotonic()
    for number, (key, value) in enumerate(make_states(count)):
        producer.produce(changelog, key=key.encode(), value=value)
        ids.append(key)
        if number % 1000 == 0:
            producer.poll(0)
            print(f"\r  {number:,} states written", end="", file=sys.stderr)
    producer.flush(120)
    print(f"\r  {count:,} states written in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return ids


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=300, help="report pages fetched")
    parser.add_argument("--sla-pages", type=int, default=60)
    parser.add_argument("--bootstrap", help="an existing broker (default: one of the run's own)")
    args = parser.parse_args()

    import contextlib

    with contextlib.ExitStack() as stack:
        if args.bootstrap:
            bootstrap = args.bootstrap
        else:
            import importlib.util

            spec = importlib.util.spec_from_file_location(
                "bench_pipeline", Path(__file__).with_name("pipeline.py")
            )
            pipeline = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(pipeline)
            bootstrap = stack.enter_context(pipeline.fresh_cluster()).bootstrap
        print(f"filling the tracker's table with {args.reports:,} reports", file=sys.stderr)
        ids = fill(bootstrap, args.reports, 3)
        folder = Path(tempfile.mkdtemp())
        from connectors.simulator import free_port

        port = free_port()
        config = {
            "group_prefix": PREFIX,
            "connectors": {"lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"}},
            "console": {"port": port, "secure_cookies": False, "accounts": str(folder / "a.yaml")},
        }
        path = folder / "hub.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LAPOR_HUB_CONSOLE_PASSWORD": PASSWORD,
            "LAPOR_HUB_HOME": str(folder / "home"),
        }
        hub = [sys.executable, "-m", "hub"]
        subprocess.run(
            [*hub, "console", "user", "add", "bench", "--role", "national", "--config", str(path)],
            env=env,
            check=True,
            capture_output=True,
        )
        log = (folder / "console.log").open("wb")
        process = subprocess.Popen(
            [*hub, "console", "--config", str(path)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        stack.callback(process.wait, 30)
        stack.callback(process.terminate)
        url = f"http://127.0.0.1:{port}"
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        deadline = time.monotonic() + 60
        while True:
            try:
                page = client.get("/login")
                break
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    log_file = folder / "console.log"
                    raise SystemExit(f"the console did not start: see {log_file}") from exc
                time.sleep(0.5)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": token})
        started = time.monotonic()
        while True:
            network = client.get("/").text
            tracked = re.search(r'id="tracked">([0-9]+)<', network)
            if tracked and int(tracked.group(1)) >= args.reports and 'id="reading"' not in network:
                break
            if time.monotonic() - started > 600:
                raise SystemExit("the console did not read the tracker's table in 600 s")
            time.sleep(1)
        print(f"  the console read them in {time.monotonic() - started:.0f} s", file=sys.stderr)

        rng = random.Random(11)
        report_times = []
        for hub_id_ in rng.sample(ids, min(args.pages, len(ids))):
            begun = time.perf_counter()
            answer = client.get(f"/reports/{hub_id_}")
            report_times.append((time.perf_counter() - begun) * 1000)
            assert answer.status_code == 200 and hub_id_ in answer.text, answer.status_code
        sla_urls = ["/sla", "/sla?province=35", "/sla?province=31", "/sla?ministry=kemenkes"]
        sla_times, by_url = [], {u: [] for u in sla_urls}
        for number in range(args.sla_pages):
            chosen = sla_urls[number % len(sla_urls)]
            begun = time.perf_counter()
            answer = client.get(chosen)
            sla_times.append((time.perf_counter() - begun) * 1000)
            by_url[chosen].append(sla_times[-1])
            assert answer.status_code == 200, answer.status_code
        for chosen, times in by_url.items():
            print(f"  {chosen}: median {statistics.median(times):.1f} ms", file=sys.stderr)
        rss = _rss_mb(process.pid)
        print(
            f"  report page: p50 {statistics.median(report_times):.1f} ms, p95 "
            f"{percentile(report_times, 0.95):.1f} ms; SLA page: p50 "
            f"{statistics.median(sla_times):.1f} ms, p95 {percentile(sla_times, 0.95):.1f} ms; "
            f"console RSS {rss:.0f} MB",
            file=sys.stderr,
        )
        print(
            f"console: p95_ms_report_page={percentile(report_times, 0.95):.0f} "
            f"p95_ms_sla_page={percentile(sla_times, 0.95):.0f} reports={args.reports}"
        )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
