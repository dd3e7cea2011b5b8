"""The data plane's saturated throughput beside two references, through a real broker.

(a) The hub's hop from inbound to outbound topics (translate and route fused, in Kafka
transactions, writing lapor.reports, lapor.routed and one record per destination) over
realistic LAPOR!-style reports, beside two one-hop references over the same reports: a raw
confluent-kafka consume-produce that passes the bytes through, and the same with one Avro
decode and encode per record (the least any Python hub must do). All on one core's worth of
Python; the broker is this machine's own. Each of the four is measured --repeat times, in
turn, and the best of each is compared.

(b) Latency from ingest (the report written to lapor.in.<connector>) to the destination
app's 2xx, at a fixed offered load of 1,000 reports/s: the hub runs as `lapor-hub up` in a
process of its own, the simulated destination apps in another, the load from this one.
Every delivery of every report counts (a report has 1-3 destinations).

(c) The tracker's events per second (decisions and status updates applied to its table),
over the routed reports and statuses the runs above left, in a window after its start.

The last line is the summary:
    pipeline: hub_per_s=N passthrough_per_s=N avro_chain_per_s=N ratio_vs_avro=R
              ratio_vs_raw=R p99_ms_at_1000=NA tracker_events_per_s=NA
Usage: python bench/pipeline.py [--reports N] [--repeat K] [--rate R] [--seconds S]
                                [--latency-only] [--hub-processes N]
(uses KAFKA_BOOTSTRAP_SERVERS or the local broker, which it starts if needed)
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this folder comes first on sys.path and bench/connectors.py would hide
# the connectors package: drop the folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from io import BytesIO  # noqa: E402

import yaml  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from fastavro import schemaless_reader, schemaless_writer  # noqa: E402

from hub import eventloop  # noqa: E402
from hub.dataplane.route import route_loop  # noqa: E402
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_consumer, make_producer  # noqa: E402
from hub.samples import destination_connectors, lapor_app_message, sample_report  # noqa: E402
from hub.serialization import SchemaStore, SingleObjectCodec  # noqa: E402
from hub.serialization.store import default_schema_dir  # noqa: E402


def bootstrap_servers() -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    from hub.broker import LocalCluster, cluster_root
    from hub.settings import jar_cache, load_settings

    settings = load_settings()
    cluster = LocalCluster(
        cluster_root(settings.home, 1),
        cache=jar_cache(settings),
        kafka_version=settings.kafka_version,
    )
    cluster.start()
    return cluster.bootstrap


@contextlib.contextmanager
def fresh_broker():
    """A broker of the run's own, on free ports: its bootstrap address."""
    with fresh_cluster() as cluster:
        yield cluster.bootstrap


@contextlib.contextmanager
def fresh_cluster():
    """A one-node LocalCluster of the run's own, started, stopped at the end."""
    from hub.broker import LocalCluster, free_base_port
    from hub.settings import jar_cache, load_settings

    settings = load_settings()
    cluster = LocalCluster(
        Path(tempfile.mkdtemp()) / "kafka",
        cache=jar_cache(settings),
        base_port=free_base_port(1),
        kafka_version=settings.kafka_version,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def hub_config(
    folder: Path, group_prefix: str, source: str, base_urls: dict[str, str] | None = None
) -> Path:
    """A hub.yaml: ``source`` (a lapor-json app) and the demo's destination connectors,
    at ``base_urls`` (instance -> URL) where given."""
    connectors = {
        source: {"type": "lapor-json", "agency": "admin-nasional"},
        **destination_connectors(),
    }
    for instance, url in (base_urls or {}).items():
        connectors[instance]["base_url"] = url
    config = folder / "hub.yaml"
    config.write_text(yaml.safe_dump({"group_prefix": group_prefix, "connectors": connectors}))
    return config


def fill(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    for number, value in enumerate(values):
        while True:
            try:
                producer.produce(
                    topic,
                    key=str(number).encode(),
                    value=value,
                    headers={"content-type": b"application/json"},
                )
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def one_hop(bootstrap: str, source: str, target: str, count: int, transform) -> float:
    """Records per second through consume -> transform -> produce, from first to last."""
    consumer = make_consumer(bootstrap, f"bench-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([source])
    producer = make_producer(bootstrap, linger_ms=5)
    done, started = 0, None
    while done < count:
        batch = [m for m in consumer.consume(1000, 1.0) if not m.error()]
        if batch and started is None:
            started = time.perf_counter()
        for msg in batch:
            while True:
                try:
                    producer.produce(target, key=msg.key(), value=transform(msg.value()))
                    break
                except BufferError:
                    producer.poll(0.05)
        done += len(batch)
    producer.flush(120)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return count / elapsed


def serve_destinations(urls, stop, arrivals_path: str) -> None:
    """The destination apps, in a process of their own; their arrivals written at the end."""
    import contextlib as _contextlib

    from connectors.declarative.simulator import DinasJsonApp
    from connectors.lapor_json.simulator import LaporJsonApp
    from connectors.open311.simulator import Open311App
    from connectors.simulator import serve
    from connectors.soap_ministry.simulator import SoapMinistryApp

    apps = {
        "lapor": LaporJsonApp(),
        "open311": Open311App(),
        "soap": SoapMinistryApp(),
        "dinas": DinasJsonApp(),
    }
    with _contextlib.ExitStack() as stack:
        for name, app in apps.items():
            urls[name] = stack.enter_context(serve(app.app))
        while not stop.wait(0.5):  # how many deliveries arrived so far, for the warm-up
            urls["arrived"] = sum(len(app.state.arrivals) for app in apps.values())
        arrivals = {}
        for app in apps.values():
            with app.state.lock:
                arrivals.update(app.state.arrivals)
        Path(arrivals_path).write_text(json.dumps(arrivals))


def latency_at(
    bootstrap: str, rate: int, seconds: int, run: str, warm_up_s: int = 30, processes: int = 1
) -> tuple[float, float, int]:
    """p50 and p99 (ms) from ingest to the app's 2xx at ``rate`` reports/s, and how many
    deliveries they cover, after ``warm_up_s`` seconds of 200 reports/s; the hub as
    ``processes`` `lapor-hub up` processes sharing the work."""
    from hub.sdk.reports import hub_id

    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    urls, stop = manager.dict(), context.Event()
    arrivals_path = Path(tempfile.mkdtemp()) / "arrivals.json"
    simulators = context.Process(
        target=serve_destinations, args=(urls, stop, str(arrivals_path)), daemon=True
    )
    simulators.start()
    deadline = time.monotonic() + 30
    while len(urls) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    source = f"lapor-latency-{run}"
    apps = {
        "lapor-nasional": "lapor",
        "open311-surabaya": "open311",
        "kemensos-soap": "soap",
        "dinas-bandung": "dinas",
    }
    folder = Path(tempfile.mkdtemp())
    config = hub_config(
        folder, f"latency-{run}", source, {name: urls[app] for name, app in apps.items()}
    )
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    hubs = []
    with (folder / "hub.log").open("ab") as log:
        for name in range(1, processes + 1):
            command = [sys.executable, "-m", "hub", "up", "--config", str(config)]
            hubs.append(
                subprocess.Popen(
                    [*command, "--name", str(name), "--no-tracker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    rng = random.Random(1000)
    producer = make_producer(bootstrap, linger_ms=1)
    topic = f"lapor.in.{source}"
    sent: dict[str, float] = {}

    def messages(count: int, prefix: str) -> list[tuple[str, bytes]]:
        """Made before they are offered: building a report costs ~0.25 ms of CPU, which
        would be taken from the hub's two cores while it is measured."""
        return [
            (f"{prefix}-{n}", lapor_app_message(sample_report(rng), f"{prefix}-{n}"))
            for n in range(count)
        ]

    def offer(batch: list[tuple[str, bytes]], per_second: int) -> None:
        started = time.time()
        for number, (source_id, body) in enumerate(batch):
            due = started + number / per_second
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            sent[hub_id(source, source_id)] = time.time()
            producer.produce(
                topic,
                key=source_id.encode(),
                value=body,
                headers={"content-type": b"application/json"},
            )
            producer.poll(0)
        producer.flush(60)

    warm_up, load = messages(warm_up_s * 200, "warm"), messages(rate * seconds, "load")
    try:
        offer(messages(200, "start"), 50)  # the hub starts and joins its groups
        deadline = time.monotonic() + 120
        while urls.get("arrived", 0) < 200 and time.monotonic() < deadline:
            time.sleep(0.5)  # the first reports delivered: the hub is up
        # a fresh broker spends its first ~30 s of traffic compiling (JIT): p99 would
        # measure that, not the hub, so traffic at a modest rate warms it up first
        offer(warm_up, 200)
        arrived, deadline = -1, time.monotonic() + 120
        while urls.get("arrived", 0) != arrived and time.monotonic() < deadline:
            arrived = urls.get("arrived", 0)
            time.sleep(2)  # until the warm-up traffic is all delivered
        warm = set(sent)
        offer(load, rate)
        time.sleep(15)  # the tail drains
    finally:
        for hub in hubs:
            hub.send_signal(signal.SIGTERM)
        for hub in hubs:
            try:
                hub.wait(60)
            except subprocess.TimeoutExpired:
                hub.kill()
        stop.set()
        simulators.join(60)
    arrivals = json.loads(arrivals_path.read_text())
    latencies = sorted(
        (arrived - sent[key.split(":")[0]]) * 1000
        for key, arrived in arrivals.items()
        if key.split(":")[0] in sent and key.split(":")[0] not in warm
    )
    if not latencies:
        return float("nan"), float("nan"), 0
    load_start = min(t for h, t in sent.items() if h not in warm)
    by_second: dict[int, list[float]] = {}
    for key, arrived in arrivals.items():
        report = key.split(":")[0]
        if report in sent and report not in warm:
            second = int(sent[report] - load_start)
            by_second.setdefault(second, []).append((arrived - sent[report]) * 1000)
    print(
        "  median latency (ms) of the reports sent in each second of the load: "
        + " ".join(f"{statistics.median(v):.0f}" for _, v in sorted(by_second.items()))
    )
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    delivered = {k.split(":")[0] for k in arrivals} - warm
    missing = len([h for h in sent if h not in warm and h not in delivered])
    if missing:
        print(f"  {missing} of {rate * seconds} reports were not delivered within the run")
    return p50, p99, len(latencies)


def hub_hop(bootstrap: str, source: str, group_prefix: str, count: int) -> tuple[float, float]:
    """Reports/s through the hub's translate-and-route hop (a consumer group of its own
    reading lapor.in.<source> from its start), and the records it wrote per report."""
    with tempfile.TemporaryDirectory() as tmp:
        config = hub_config(Path(tmp), group_prefix, source)
        loop = route_loop(config, "bench", bootstrap)
        while loop.stats.consumed == 0:
            loop.step(1.0)
        started, first = time.perf_counter(), loop.stats.consumed
        while loop.stats.consumed < count:
            loop.step()
        loop.flush()
        rate = (count - first) / (time.perf_counter() - started)
        outputs = loop.stats.produced / max(loop.stats.consumed, 1)
        loop.close()
    return rate, outputs


def tracker_rate(bootstrap: str, run: str, window: float = 20.0) -> tuple[float, int]:
    """Events/s the tracker applies, over what the runs above left on the topics."""
    from hub.tracker.app import Tracker

    folder = Path(tempfile.mkdtemp())
    config = hub_config(folder, f"trk-{run}", f"lapor-latency-{run}")
    tracker = Tracker(config, bootstrap, "bench", tick_seconds=60, datadir=folder)

    async def measure() -> tuple[float, int]:
        stop = asyncio.Event()
        running = asyncio.create_task(tracker.run(stop))
        while sum(tracker.applied.values()) == 0:
            await asyncio.sleep(0.05)
        started, first = time.perf_counter(), sum(tracker.applied.values())
        last, idle = first, 0
        while time.perf_counter() - started < window and idle < 20:
            await asyncio.sleep(0.1)
            now = sum(tracker.applied.values())
            idle = idle + 1 if now == last else 0
            last = now
        elapsed = time.perf_counter() - started - idle * 0.1
        stop.set()
        await running
        return (last - first) / max(elapsed, 1e-9), last

    return eventloop.run(measure())  # the loop the tracker runs on in the hub


def hub_processes(count: int) -> str:
    return f" with {count} hub processes" if count > 1 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="times (a) is measured; the best counts"
    )
    parser.add_argument("--rate", type=int, default=1000, help="offered load for (b)")
    parser.add_argument("--seconds", type=int, default=20, help="how long (b) offers it")
    parser.add_argument(
        "--latency-only", action="store_true", help="run (b) alone (no summary line)"
    )
    parser.add_argument(
        "--hub-processes", type=int, default=1, help="`lapor-hub up` processes in (b)"
    )
    args = parser.parse_args()
    if args.latency_only:
        with fresh_broker() as fresh:
            p50, p99, deliveries = latency_at(
                fresh, args.rate, args.seconds, uuid.uuid4().hex[:6], processes=args.hub_processes
            )
        print(
            f"latency ingest -> app 2xx at {args.rate}/s for {args.seconds} s"
            f"{hub_processes(args.hub_processes)}: "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms over {deliveries} deliveries"
        )
        return
    bootstrap = bootstrap_servers()
    run = uuid.uuid4().hex[:6]
    rng = random.Random(1708)
    reports = [sample_report(rng) for _ in range(args.reports)]
    raw = [lapor_app_message(r, f"B-{n}") for n, r in enumerate(reports)]
    store = SchemaStore(default_schema_dir())
    parsed = store.latest("Report").parsed
    codec = SingleObjectCodec(store)
    avro = [codec.encode("Report", r) for r in reports]

    names = {k: f"bench.{k}.{run}" for k in ("raw-in", "avro-in", "out")}
    ensure_topics(make_admin(bootstrap), [TopicSpec(t, 3) for t in names.values()])
    fill(bootstrap, names["raw-in"], raw)
    fill(bootstrap, names["avro-in"], avro)

    def decode_encode(value: bytes) -> bytes:
        buffer = BytesIO(value)
        buffer.seek(10)
        record = schemaless_reader(buffer, parsed, None)
        out = BytesIO()
        schemaless_writer(out, parsed, record)
        return out.getvalue()

    # the hub's own codec writes with cavro where it is installed: the same reference with
    # it, printed beside (the goal's reference stays the fastavro chain)
    fast = store.latest("Report").fast
    source = f"lapor-bench-{run}"
    fill(bootstrap, f"lapor.in.{source}", raw)
    runs: dict[str, list[float]] = {"raw": [], "avro": [], "cavro": [], "hub": []}
    outputs = 0.0
    # each measurement is a few seconds long, so a stray burst of the broker's (log
    # cleaning, the JIT) moves it: the four are taken in turn, --repeat times, and the best
    # of each is compared
    for attempt in range(args.repeat):
        runs["raw"].append(
            one_hop(bootstrap, names["raw-in"], names["out"], args.reports, lambda v: v)
        )
        runs["avro"].append(
            one_hop(bootstrap, names["avro-in"], names["out"], args.reports, decode_encode)
        )
        if fast is not None:
            runs["cavro"].append(
                one_hop(
                    bootstrap,
                    names["avro-in"],
                    names["out"],
                    args.reports,
                    lambda v: fast.binary_encode(fast.binary_decode(v[10:])),
                )
            )
        rate, outputs = hub_hop(bootstrap, source, f"bench-{run}-{attempt}", args.reports)
        runs["hub"].append(rate)
    passthrough, avro_chain, hub = max(runs["raw"]), max(runs["avro"]), max(runs["hub"])
    fast_chain = max(runs["cavro"]) if runs["cavro"] else None
    # (b) and (c) on a fresh broker of their own: new consumer groups on a used one would
    # first deliver every report earlier runs left on the outbound topics
    with fresh_broker() as fresh:
        p50, p99, deliveries = latency_at(
            fresh, args.rate, args.seconds, run, processes=args.hub_processes
        )
        tracker_per_s, events = tracker_rate(fresh, run)
    print(
        f"{args.reports} reports of {min(map(len, raw))}-{max(map(len, raw))} bytes, "
        f"broker {bootstrap}"
    )

    def every(name: str) -> str:
        return "(runs: " + ", ".join(f"{r:,.0f}" for r in runs[name]) + ")"

    print(f"raw one-hop passthrough:          {passthrough:>8,.0f} records/s {every('raw')}")
    print(
        f"one hop with Avro decode+encode:  {avro_chain:>8,.0f} records/s (fastavro) "
        f"{every('avro')}"
    )
    if fast_chain is not None:
        print(
            f"  the same with cavro:            {fast_chain:>8,.0f} records/s "
            f"(hub / it: {hub / fast_chain:.2f}) {every('cavro')}"
        )
    print(
        f"hub translate+route (transactional, {outputs:.1f} outputs per report): "
        f"{hub:>8,.0f} reports/s {every('hub')}"
    )
    print(
        f"latency ingest -> app 2xx at {args.rate}/s for {args.seconds} s"
        f"{hub_processes(args.hub_processes)}: p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms over {deliveries} deliveries"
    )
    print(f"tracker: {tracker_per_s:,.0f} events/s ({events} events applied)")
    print(
        f"pipeline: hub_per_s={hub:.0f} passthrough_per_s={passthrough:.0f} "
        f"avro_chain_per_s={avro_chain:.0f} ratio_vs_avro={hub / avro_chain:.2f} "
        f"ratio_vs_raw={hub / passthrough:.2f} p99_ms_at_{args.rate}={p99:.0f} "
        f"tracker_events_per_s={tracker_per_s:.0f}"
    )


if __name__ == "__main__":
    main()
