"""Sizing: the CPU each process spends per report at fixed offered loads, read from the
processes themselves (/proc), beside two references on the same machine and payloads.

Run A, the data plane alone (`lapor-hub up --no-tracker`) at 300 reports/s: the hub
process's CPU per report and per delivery. Beside it, in the same run and against the same
simulated app, the bare-client reference: aiohttp (what the hub's delivery client runs on,
through httpx-aiohttp) posting the same documents the hub delivered, one request each with
its own Idempotency-Key, at the rate the hub delivered them; its CPU per request.

Run B, the whole hub (`lapor-hub up`, its tracker a process of its own) at 50, 100 and 300
reports/s in turn, each for --seconds after a warm-up: per load, the CPU per report of the
hub, the tracker, the broker, the simulated apps and the load generator; p50 and p99 from
ingest (the report written to lapor.in.<source>) to a destination app's 2xx; p99 from a
delivery to the origin app being told of it (the first status about the report reaching
the app it came from: the tracker's work and the feedback side's); the consumer lag of the
hub's groups at the end. Beside it, the faust reference: a bare faust agent (the same faust
and transport as the tracker) applying the run's decisions and status updates to a table,
its CPU per event, against the tracker's CPU per event it applied.

Each run has a broker of its own, started here. On 2 cores every process shares the CPU with
the others: the figures are CPU time, not rates.

The last line is the summary:
    sizing: hub_cpu_ms_per_report=N delivery_vs_bare_client=R tracker_cpu_ms_per_event=N
            tracker_vs_faust=R p99_ms_at_100=N p99_ms_at_300=N
The hub runs on one core (`up --cpus`, the last core; --hub-cpus '' for any), as
docs/operations.md advises, and the bare client on the same core.

Usage: python bench/sizing.py [--seconds S] [--loads 50,100,300] [--warm-up S] [--run-a-only]
       [--hub-cpus LIST]
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this folder comes first on sys.path and bench/connectors.py would hide
# the connectors package: drop the folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import yaml  # noqa: E402
from confluent_kafka import TopicPartition  # noqa: E402

from hub import topics  # noqa: E402
from hub.kafka import make_admin, make_consumer, make_producer  # noqa: E402
from hub.samples import destination_connectors, lapor_app_message, sample_report  # noqa: E402
from hub.sdk.reports import hub_id  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
APPS = {  # connector instance -> the simulated app serving it
    "lapor-nasional": "lapor",
    "open311-surabaya": "open311",
    "kemensos-soap": "soap",
    "dinas-bandung": "dinas",
}


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads, by kind: Python's threads by their Python name
    without numbers (MainThread is the event loop; kafka-wait_ the pool the workers wait on
    Kafka in; route, commit), librdkafka's own (rdk:main, rdk:broker1, ...: the Kafka
    clients' I/O, which py-spy does not see) by their name without numbers."""
    named = python_threads(pid)
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError):
            name = named.get(int(task.name)) or (task / "comm").read_text().strip()
            name = name.rstrip("0123456789").rstrip("_-") or name
            found[name] = found.get(name, 0.0) + task_cpu(task)
    return found


def task_cpu(task: Path) -> float:
    """User and system CPU seconds of one thread (/proc/<pid>/task/<tid>)."""
    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def compiler_cpu(pid: int) -> float:
    """CPU seconds the broker's JIT compiler threads (HotSpot's "C1/C2 CompilerThread")
    have used: a fresh broker compiles for its first minutes of traffic, and that CPU is
    the broker warming up, not the reports' cost."""
    used = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError):
            if "CompilerThre" in (task / "comm").read_text():
                used += task_cpu(task)
    return used


def python_threads(pid: int) -> dict[int, str]:
    """Thread id -> Python thread name, from py-spy's dump ({} without py-spy)."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return {}
    dump = subprocess.run(
        [str(spy), "dump", "-p", str(pid), "--nonblocking"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    # "Thread 5587 (idle): "MainThread"": on Linux the number is the thread's id
    return {int(tid): name for tid, name in re.findall(r'^Thread (\d+) .*: "(.*)"$', dump, re.M)}


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def broker():
    """A broker of the run's own: (bootstrap, its JVM's pid)."""
    import importlib.util

    # bench/pipeline.py's, loaded by path: this folder is not on sys.path (see above)
    spec = importlib.util.spec_from_file_location(
        "bench_pipeline", Path(__file__).with_name("pipeline.py")
    )
    pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pipeline)
    with pipeline.fresh_cluster() as cluster:
        yield cluster.bootstrap, cluster._pid(cluster.nodes[0])


class _AnyReport:
    """The origin app's reports, as far as statuses about them go: every id the load sends
    (the load writes straight to lapor.in.<source>, the app never listed them)."""

    def __contains__(self, _: object) -> bool:
        return True


def serve_apps(urls, stop, out: str) -> None:
    """The destination apps and the origin app, in a process of their own; what arrived
    is written to ``out`` at the end."""
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
        "origin": LaporJsonApp(),
    }
    apps["origin"].state._filed_values = _AnyReport()
    with contextlib.ExitStack() as stack:
        for name, app in apps.items():
            urls[name] = stack.enter_context(serve(app.app))
        urls["pid"] = os.getpid()
        while not stop.wait(0.5):
            urls["arrived"] = sum(len(a.state.arrivals) for n, a in apps.items() if n != "origin")
        result = {"arrivals": {}, "feedback": {}, "documents": []}
        for name, app in apps.items():
            with app.state.lock:
                if name == "origin":
                    result["feedback"] = {
                        key: [doc["source_id"], app.state.feedback_at[key]]
                        for key, doc in app.state.feedback.items()
                    }
                else:
                    result["arrivals"].update(app.state.arrivals)
        lapor = apps["lapor"]
        with lapor.state.lock:  # what the hub posted, for the bare client to post again
            result["documents"] = list(lapor.state.delivered.values())[:2000]
        Path(out).write_text(json.dumps(result))


@dataclass
class Phase:
    load: int
    reports: int
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds
    hub_threads: dict[str, float] = field(default_factory=dict)  # thread kind -> CPU seconds
    deliveries: int = 0
    p50: float = float("nan")
    p99: float = float("nan")
    status_p99: float = float("nan")
    lag: int = 0
    ids: set[str] = field(default_factory=set)  # hub ids of the reports offered in the phase
    events: int = 0  # decisions and status updates the tracker read in the phase
    broker_jit: float = 0.0  # CPU seconds of the broker's JIT compiler (part of cpu["broker"])


class Run:
    """A broker, the simulated apps and `lapor-hub up` (with or without its tracker)."""

    def __init__(
        self, stack: contextlib.ExitStack, tracker: bool, tag: str, cpus: str = ""
    ) -> None:
        self.bootstrap, self.broker_pid = stack.enter_context(broker())
        context = multiprocessing.get_context("spawn")
        self.urls, self.stop = context.Manager().dict(), context.Event()
        self.out = Path(tempfile.mkdtemp()) / "apps.json"
        self.apps = context.Process(
            target=serve_apps, args=(self.urls, self.stop, str(self.out)), daemon=True
        )
        self.apps.start()
        deadline = time.monotonic() + 60
        while "pid" not in self.urls and time.monotonic() < deadline:
            time.sleep(0.1)
        self.source = f"warga-{tag}"
        self.prefix = f"sizing-{tag}"
        connectors = {
            self.source: {
                "type": "lapor-json",
                "agency": "admin-nasional",
                "base_url": self.urls["origin"],
            },
            **destination_connectors(),
        }
        for instance, app in APPS.items():
            connectors[instance]["base_url"] = self.urls[app]
        folder = Path(tempfile.mkdtemp())
        self.config = folder / "hub.yaml"
        self.config.write_text(
            yaml.safe_dump({"group_prefix": self.prefix, "connectors": connectors})
        )
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}
        command = [sys.executable, "-m", "hub", "up", "--config", str(self.config)]
        command.append("--tracker" if tracker else "--no-tracker")
        if cpus:
            command += ["--cpus", cpus]
        self.log = (folder / "hub.log").open("ab")
        self.hub = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.closed = False
        self.producer = make_producer(self.bootstrap, linger_ms=1)
        self.sent: dict[str, float] = {}
        self.rng = random.Random(300)
        self.offered = 0

    def processes(self) -> dict[str, int]:
        found = {"hub": self.hub.pid, "broker": self.broker_pid, "apps": self.urls["pid"]}
        for child in children(self.hub.pid):  # `lapor-hub tracker`, started by `up`
            with contextlib.suppress(OSError):
                if b"tracker" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found["tracker"] = child
        return found

    def cpu(self) -> dict[str, float]:
        measured = {name: cpu_seconds(pid) for name, pid in self.processes().items()}
        measured["load"] = own_cpu()
        return measured

    def messages(self, count: int) -> list[tuple[str, bytes]]:
        """Made before they are offered, so their making is not in the load's CPU."""
        made = []
        for _ in range(count):
            source_id = f"S-{self.offered}"
            self.offered += 1
            made.append((source_id, lapor_app_message(sample_report(self.rng), source_id)))
        return made

    def offer(self, batch: list[tuple[str, bytes]], per_second: int) -> None:
        topic = topics.inbound(self.source)
        started = time.time()
        for number, (source_id, body) in enumerate(batch):
            pause = started + number / per_second - time.time()
            if pause > 0:
                time.sleep(pause)
            self.sent[hub_id(self.source, source_id)] = time.time()
            self.producer.produce(
                topic,
                key=source_id.encode(),
                value=body,
                headers={"content-type": b"application/json"},
            )
            self.producer.poll(0)
        self.producer.flush(60)

    def settle(self, limit: float = 60.0) -> None:
        """Until deliveries stop arriving (the tail of what was offered drains)."""
        arrived, deadline = -1, time.monotonic() + limit
        while self.urls.get("arrived", 0) != arrived and time.monotonic() < deadline:
            arrived = self.urls.get("arrived", 0)
            time.sleep(3)

    def lag(self) -> int:
        """Records the hub's consumer groups have not committed yet."""
        admin = make_admin(self.bootstrap)
        groups = [g.group_id for g in admin.list_consumer_groups().result(30).valid]
        groups = [g for g in groups if g.startswith(self.prefix)]
        consumer = make_consumer(self.bootstrap, f"sizing-lag-{uuid.uuid4().hex[:6]}")
        total = 0
        for group in groups:
            offsets = admin.list_consumer_group_offsets([_Request(group)])[group].result(30)
            for tp in offsets.topic_partitions:
                if tp.offset < 0 or tp.topic.startswith("__"):
                    continue
                high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), 10)[1]
                total += max(0, high - tp.offset)
        consumer.close()
        return total

    def tracker_events(self) -> int:
        """Records on the tracker's inputs (decisions and status updates) so far."""
        consumer = make_consumer(self.bootstrap, f"sizing-count-{uuid.uuid4().hex[:6]}")
        names = [topics.ROUTED, *(topics.status(c) for c in (self.source, *APPS))]
        metadata = consumer.list_topics(timeout=10).topics
        total = 0
        for name in names:
            for partition in metadata.get(name).partitions if name in metadata else ():
                total += consumer.get_watermark_offsets(TopicPartition(name, partition), 10)[1]
        consumer.close()
        return total

    def phase(
        self, load: int, seconds: int, profiled: Path | None = None, process: str = "hub"
    ) -> Phase:
        """Offer ``load`` reports/s for ``seconds``; ``profiled``: py-spy's stacks of
        ``process`` (hub or tracker) meanwhile."""
        batch = self.messages(load * seconds)
        before, events = self.cpu(), self.tracker_events()
        threads, compiled = thread_cpu(self.hub.pid), compiler_cpu(self.broker_pid)
        first = len(self.sent)
        spy = profile(self.processes()[process], seconds, profiled) if profiled else None
        self.offer(batch, load)
        if spy is not None:
            spy.wait(60)
        self.settle()
        after = self.cpu()
        measured = Phase(load, len(batch))
        measured.cpu = {name: after[name] - before.get(name, 0.0) for name in after}
        measured.hub_threads = {  # threads that ended during the phase are not counted
            name: used - threads.get(name, 0.0) for name, used in thread_cpu(self.hub.pid).items()
        }
        measured.events = self.tracker_events() - events
        measured.broker_jit = compiler_cpu(self.broker_pid) - compiled
        measured.lag = self.lag()
        measured.ids = set(list(self.sent)[first:])
        return measured

    def idle(
        self, seconds: int, profiled: Path | None = None
    ) -> tuple[dict[str, float], dict[str, float]]:
        """ms of CPU a second each process (and each kind of the hub's threads) uses with
        no load: the polls, heartbeats and timers that a load's reports share."""
        before, threads = self.cpu(), thread_cpu(self.hub.pid)
        spy = profile(self.hub.pid, seconds, profiled) if profiled else None
        time.sleep(seconds)
        if spy is not None:
            spy.wait(60)
        after, threads_after = self.cpu(), thread_cpu(self.hub.pid)
        return (
            {name: 1000 * (after[name] - before.get(name, 0.0)) / seconds for name in after},
            {
                name: 1000 * (used - threads.get(name, 0.0)) / seconds
                for name, used in threads_after.items()
            },
        )

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.hub.send_signal(signal.SIGTERM)
        try:
            self.hub.wait(60)
        except subprocess.TimeoutExpired:
            self.hub.kill()
        self.stop.set()
        self.apps.join(60)
        self.log.close()

    def results(self) -> dict:
        return json.loads(self.out.read_text())


class _Request:
    """A ConsumerGroupTopicPartitions for list_consumer_group_offsets (all partitions)."""

    def __new__(cls, group: str):
        from confluent_kafka import ConsumerGroupTopicPartitions

        return ConsumerGroupTopicPartitions(group)


def latencies(run: Run, phases: list[Phase], results: dict) -> None:
    """Each phase's p50/p99 ingest -> 2xx, and p99 delivery -> origin told."""
    first_arrival: dict[str, float] = {}
    for key, at in results["arrivals"].items():
        report = key.split(":")[0]
        first_arrival[report] = min(at, first_arrival.get(report, at))
    told: dict[str, float] = {}
    for source_id, at in results["feedback"].values():
        report = hub_id(run.source, source_id)
        told[report] = min(at, told.get(report, at))
    for phase in phases:
        ids = phase.ids
        ingest = sorted(
            (at - run.sent[key.split(":")[0]]) * 1000
            for key, at in results["arrivals"].items()
            if key.split(":")[0] in ids
        )
        phase.deliveries = len(ingest)
        if ingest:
            phase.p50 = ingest[len(ingest) // 2]
            phase.p99 = ingest[min(len(ingest) - 1, int(len(ingest) * 0.99))]
        back = sorted(
            (told[r] - first_arrival[r]) * 1000 for r in ids if r in told and r in first_arrival
        )
        if back:
            phase.status_p99 = back[min(len(back) - 1, int(len(back) * 0.99))]


def bare_client(url: str, documents: list[dict], rate: float, cpus: str, out) -> None:
    """The reference: aiohttp posting ``documents`` at ``rate`` a second, each with its own
    Idempotency-Key, on the hub's cores; its CPU per request (this process's, all threads)
    put on ``out``."""
    import asyncio

    import aiohttp

    from hub.affinity import parse_cpus, pin

    if cpus:
        pin(parse_cpus(cpus))

    async def main() -> tuple[float, int]:
        bodies = [json.dumps(d).encode() for d in documents]
        done = 0
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=10)
        ) as session:

            async def post(number: int, body: bytes) -> None:
                nonlocal done
                headers = {
                    "Idempotency-Key": f"bare-{number}:bare",
                    "content-type": "application/json",
                }
                async with session.post(f"{url}/api/v1/laporan", data=body, headers=headers) as r:
                    await r.read()
                    done += r.status < 300

            await post(-1, bodies[0])  # the connection made, as the hub's is
            started, cpu = time.monotonic(), own_cpu()
            tasks = []
            for number, body in enumerate(bodies):
                pause = started + number / rate - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                tasks.append(asyncio.create_task(post(number, body)))
            await asyncio.gather(*tasks)
            return own_cpu() - cpu, done

    cpu, done = asyncio.run(main())
    out.put((cpu, done))


def bare_faust(bootstrap: str, inputs: list[str], expected: int, out) -> None:
    """The reference: a faust agent (the tracker's faust and transport) applying every
    record of ``inputs`` to a table (the report's count and last size, per key); its CPU per
    event from the first event to the last put on ``out``."""
    import asyncio

    from hub import eventloop
    from hub.kafka import TopicSpec, ensure_topics
    from hub.tracker.transport import App

    reader = make_consumer(bootstrap, f"sizing-faust-{uuid.uuid4().hex[:6]}")
    partitions = len(reader.list_topics(inputs[0], timeout=30).topics[inputs[0]].partitions)
    reader.close()
    app_id = f"sizing-faust-{uuid.uuid4().hex[:6]}"
    # faust makes its own topics only under its Worker: made here, as the hub makes the
    # tracker's (hub.topic_specs.tracker_topics)
    ensure_topics(
        make_admin(bootstrap),
        [
            TopicSpec(f"{app_id}-events-changelog", partitions, 1, {"cleanup.policy": "compact"}),
            TopicSpec(f"{app_id}-__assignor-__leader", 1, 1),
        ],
    )
    app = App(  # co-partitioned with its inputs, as the tracker's table is
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        datadir=tempfile.mkdtemp(),
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="json",
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
    )
    table = app.Table("events", default=None, partitions=partitions, key_type=bytes)
    seen = {"events": 0, "cpu": None}

    async def apply(stream) -> None:
        async for key, value in stream.items():
            if seen["cpu"] is None:
                seen["cpu"] = own_cpu()
            state = dict(table.get(key) or {"n": 0})
            state["n"] += 1
            state["size"] = len(value or b"")
            table[key] = state
            seen["events"] += 1

    source = app.topic(*inputs, key_serializer="raw", value_serializer="raw")
    app.agent(source, name="apply")(apply)

    async def run() -> tuple[float, int]:
        """Until every event is applied, or none came for 15 s: the CPU is read at the last
        event applied (within 50 ms), so an idle tail is not counted. (``expected`` counts
        offsets, and a topic written in transactions has commit markers among them.)"""
        await app.start()
        deadline = time.monotonic() + 300
        applied, cpu_at_last, moved_at = 0, None, time.monotonic()
        while seen["events"] < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if seen["events"] != applied:
                applied, cpu_at_last, moved_at = seen["events"], own_cpu(), time.monotonic()
            elif applied and time.monotonic() - moved_at > 15:
                break
        if seen["events"] != applied:  # the last ones, applied since the last look
            applied, cpu_at_last = seen["events"], own_cpu()
        used = (cpu_at_last or own_cpu()) - (seen["cpu"] or own_cpu())
        await app.stop()
        return used, applied

    out.put(eventloop.run(run()))


def in_process(target, *args) -> tuple[float, int]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue), daemon=True)
    process.start()
    result = queue.get(timeout=600)
    process.join(60)
    return result


# where a sample of the hub process is: the first of these its stack passes through (its
# innermost frames first: a delivery's Kafka write is the delivery's)
STAGES = (
    ("route", ("hub/dataplane/route.py", "hub/dataplane/failures.py", "hub/routing/")),
    ("deliver", ("hub/dataplane/deliver.py",)),
    ("feedback", ("hub/dataplane/feedback.py",)),
    ("retry", ("hub/dataplane/retries.py",)),
    ("ingest", ("hub/dataplane/inbound.py", "hub/sdk/webhook.py")),
    ("transaction", ("hub/dataplane/transactional.py",)),
    ("kafka client", ("confluent_kafka", "hub/kafka.py")),
    ("http", ("aiohttp", "httpx", "hub/sdk/http.py")),
    ("event loop", ("asyncio", "uvloop")),
)


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen:
    """py-spy sampling ``pid`` (not pausing it) for ``seconds``, as collapsed stacks."""
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "-p", str(pid), "-d", str(seconds), "-r", "100"]
    command += ["-f", "raw", "-o", str(out), "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def shares(collapsed: Path, place: Callable[[list[str]], str]) -> list[tuple[str, float]]:
    """(place, share of the samples), largest first, from py-spy's collapsed stacks, each
    sample given to the place ``place`` finds in its frames (outermost first)."""
    counts: dict[str, int] = {}
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        where = place(stack.split(";"))
        counts[where] = counts.get(where, 0) + int(count)
    total = sum(counts.values()) or 1
    return sorted(((w, c / total) for w, c in counts.items()), key=lambda row: -row[1])


def stage_of(frames: list[str]) -> str:
    """The innermost hub stage or library on a stack (STAGES), else "other"."""
    for frame in reversed(frames):
        found = next((name for name, marks in STAGES if any(m in frame for m in marks)), None)
        if found is not None:
            return found
    return "other"


def module_of(frames: list[str]) -> str:
    """The innermost frame's module: a hub module by its file, a library by its package."""
    where = frames[-1].rpartition("(")[2].partition(":")[0]
    return where if where.startswith(("hub/", "connectors/")) else where.split("/")[0]


def warm_up(run: Run, seconds: int) -> None:
    """The hub starts and joins its groups; then traffic at 100/s while the broker's JIT
    compiles: a fresh broker's first ~30 s of traffic are slow, and its compiler threads
    went on taking ~0.3 cores through the next minute at 300/s (0.03 after two minutes of
    traffic), CPU the hub and the tracker would otherwise share with it."""
    run.offer(run.messages(100), 20)
    run.settle(120)
    run.offer(run.messages(seconds * 100), 100)
    run.settle()


def machine() -> str:
    """What the figures were measured on: they move with the CPU model as much as with
    the code (2026-12-07: an AMD EPYC VM spent ~1.7x the CPU a report of an Intel Xeon one)."""
    model = "unknown CPU"
    with contextlib.suppress(OSError, IndexError):
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = found[1].strip() if found else model
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"machine: {len(os.sched_getaffinity(0))} cores ({model}), {memory:.0f} GiB, "
        f"Python {sys.version.split()[0]}"
    )


def per(value: float, count: int) -> float:
    return 1000 * value / count if count else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="how long each load is offered")
    parser.add_argument("--loads", default="50,100,300", help="offered loads of run B, reports/s")
    parser.add_argument(
        "--warm-up", type=int, default=90, help="seconds at 100/s first (the broker's JIT)"
    )
    parser.add_argument(
        "--run-a-only",
        action="store_true",
        help="run A alone (the hub's CPU a report and its profile), no summary line",
    )
    parser.add_argument(
        "--idle", type=int, default=20, help="seconds run A measures the hub idle, first"
    )
    parser.add_argument(
        "--hub-cpus",
        default=str(max(os.sched_getaffinity(0))),
        help="the cores the hub runs on (lapor-hub up --cpus; the bare client too), as "
        "taskset -c takes them; empty: any (default: the last core)",
    )
    parser.add_argument(
        "--run-b-only",
        action="store_true",
        help="run B alone (the tracker's CPU an event and its profile), no summary line",
    )
    args = parser.parse_args()
    print(machine())
    loads = [int(x) for x in args.loads.split(",")]
    tag = uuid.uuid4().hex[:6]
    profiled = Path(tempfile.mkdtemp()) / "hub-profile.txt"  # run A's hub, by py-spy
    tracker_profiled = profiled.with_name("tracker-profile.txt")  # run B's last phase
    if not args.run_b_only:
        delivered_per_s, documents, a = run_a(args, profiled)
    if args.run_a_only:
        return
    print(
        f"run B: lapor-hub up (tracker on){pinned(args)} at {', '.join(map(str, loads))} reports/s"
    )
    with contextlib.ExitStack() as stack:
        run = Run(stack, tracker=True, tag=f"b{tag}", cpus=args.hub_cpus)
        try:
            warm_up(run, args.warm_up)
            phases = [run.phase(load, args.seconds) for load in loads[:-1]]
            phases.append(run.phase(loads[-1], args.seconds, tracker_profiled, "tracker"))
            # the references, on this run's broker and app (still up): the bare client at
            # the rate run A delivered, the faust agent over every decision and status
            if not args.run_b_only:
                bare_cpu, bare_done = in_process(
                    bare_client,
                    run.urls["lapor"],
                    documents,
                    max(delivered_per_s, 1.0),
                    args.hub_cpus,
                )
            inputs = [topics.ROUTED, *(topics.status(c) for c in (run.source, *APPS))]
            faust_cpu, faust_events = in_process(
                bare_faust, run.bootstrap, inputs, run.tracker_events()
            )
        finally:
            run.close()
        results = run.results()
    latencies(run, phases, results)
    print(
        f"{'load/s':>7} {'reports':>8} {'hub':>6} {'tracker':>8} {'broker':>7} {'apps':>6} "
        f"{'load':>6}  (ms CPU a report)  p50/p99 ms  status p99 ms  lag  broker JIT"
    )
    for p in phases:
        cells = [
            per(p.cpu.get(n, 0.0), p.reports) for n in ("hub", "tracker", "broker", "apps", "load")
        ]
        print(
            f"{p.load:>7} {p.reports:>8} "
            + " ".join(f"{c:>6.2f}" for c in cells)
            + f"  {p.p50:>5.0f}/{p.p99:<5.0f}  {p.status_p99:>8.0f}  {p.lag}"
            + f"  {per(p.broker_jit, p.reports):.2f}"
        )
    busiest = phases[-1]
    tracker_per_event = per(busiest.cpu.get("tracker", 0.0), busiest.events)
    faust_per_event = per(faust_cpu, faust_events)
    if tracker_profiled.exists() and tracker_profiled.stat().st_size:
        print(
            f"  where the tracker's CPU goes at {busiest.load}/s (py-spy, by module; "
            f"stacks: {tracker_profiled}):"
        )
        for module, share in shares(tracker_profiled, module_of)[:12]:
            print(f"    {module:<40} {share:>6.1%}  {share * tracker_per_event:.3f} ms an event")
    print(
        f"references: bare faust agent {faust_per_event:.3f} ms CPU an event "
        f"({faust_events} events); the tracker {tracker_per_event:.3f} ms an event"
    )
    if args.run_b_only:
        return
    bare_per_request = per(bare_cpu, bare_done)
    hub_per_delivery = per(a.cpu["hub"], a.deliveries)
    print(
        f"references: bare aiohttp client {bare_per_request:.3f} ms CPU a request "
        f"({bare_done} requests at {delivered_per_s:.0f}/s)"
    )
    by_load = {p.load: p for p in phases}
    print(
        f"sizing: hub_cpu_ms_per_report={per(a.cpu['hub'], a.reports):.2f} "
        f"delivery_vs_bare_client={hub_per_delivery / bare_per_request:.1f} "
        f"tracker_cpu_ms_per_event={tracker_per_event:.2f} "
        f"tracker_vs_faust={tracker_per_event / faust_per_event:.1f} "
        f"p99_ms_at_100={by_load[100].p99 if 100 in by_load else float('nan'):.0f} "
        f"p99_ms_at_300={by_load[300].p99 if 300 in by_load else float('nan'):.0f}"
    )


def pinned(args: argparse.Namespace) -> str:
    return f" --cpus {args.hub_cpus}" if args.hub_cpus else ""


def run_a(args: argparse.Namespace, profiled: Path) -> tuple[float, list, Phase]:
    """Run A: the hub without its tracker at 300/s, profiled. (the rate it delivered, the
    documents the app received, the phase)"""
    tag = uuid.uuid4().hex[:6]
    print(f"run A: lapor-hub up --no-tracker{pinned(args)} at 300 reports/s for {args.seconds} s")
    with contextlib.ExitStack() as stack:
        run = Run(stack, tracker=False, tag=f"a{tag}", cpus=args.hub_cpus)
        try:
            warm_up(run, args.warm_up)
            idle, idle_threads = run.idle(args.idle, profiled.with_name("hub-idle.txt"))
            a = run.phase(300, args.seconds, profiled)
        finally:
            run.close()
        results = run.results()
    latencies(run, [a], results)
    delivered_per_s = a.deliveries / args.seconds
    documents = results["documents"]
    documents = (documents * (a.deliveries // max(len(documents), 1) + 1))[: a.deliveries]
    if not (profiled.exists() and profiled.stat().st_size):
        print("  (py-spy recorded nothing: is it installed, pip install -e .[bench]?)")
    else:
        print(
            f"  where the hub process's CPU goes at 300/s (py-spy, by stage; stacks: {profiled}):"
        )
        hub_ms = per(a.cpu["hub"], a.reports)
        for stage, share in shares(profiled, stage_of):
            print(f"    {stage:<14} {share:>6.1%}  {share * hub_ms:.3f} ms a report")
    print(
        "  the hub process's CPU by thread (librdkafka's rdk: threads are the Kafka clients' I/O):"
    )
    for name, used in sorted(a.hub_threads.items(), key=lambda item: -item[1])[:8]:
        print(f"    {name:<16} {per(used, a.reports):.3f} ms a report")
    print(
        f"  hub: {per(a.cpu['hub'], a.reports):.2f} ms CPU a report, "
        f"{per(a.cpu['hub'], a.deliveries):.2f} ms a delivery ({a.deliveries} deliveries); "
        f"p50 {a.p50:.0f} ms, p99 {a.p99:.0f} ms ingest -> 2xx; lag {a.lag}"
    )
    print(
        f"  the broker: {per(a.cpu['broker'], a.reports):.2f} ms CPU a report, of which its JIT "
        f"compiler {per(a.broker_jit, a.reports):.2f}"
    )

    print(
        f"  idle, over {args.idle} s before the load: the hub {idle['hub']:.0f} ms of CPU a "
        f"second (threads: "
        + ", ".join(
            f"{name} {used:.0f}"
            for name, used in sorted(idle_threads.items(), key=lambda item: -item[1])[:4]
        )
        + f"), the broker {idle['broker']:.0f}, the apps {idle['apps']:.0f} "
        f"(stacks: {profiled.with_name('hub-idle.txt')})"
    )
    return delivered_per_s, documents, a


if __name__ == "__main__":
    main()
