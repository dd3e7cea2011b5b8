"""Running data-plane workers: ``lapor-hub worker ingest --config hub.yaml --name w1``.

Several workers with the same configuration share the partitions (one consumer group);
each needs its own ``--name``, which makes its transactional id stable across restarts.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import KafkaException

from hub import topics
from hub.config import build_connectors, load_config
from hub.dataplane.ingest import IngestAndRoute
from hub.dataplane.transactional import CommitHung, LoopStats, TransactionalLoop
from hub.errors import BrokerNotReachable
from hub.kafka import is_passing
from hub.routing import ReloadingRouter
from hub.serialization import TopicSerializer, load_store, make_codec
from hub.settings import load_settings
from hub.topology import ensure_hub_topics

log = logging.getLogger(__name__)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def ingest_loop(config_path: Path, name: str, bootstrap: str) -> TransactionalLoop:
    config = load_config(config_path)
    settings = load_settings()
    connectors = build_connectors(config)
    ensure_hub_topics(bootstrap, config)

    def audited(old: str, new: str, outcome: str) -> None:
        from hub import audit

        what = {"folder": str(config.rules), "from": old, "to": new, "worker": name}
        audit.record(bootstrap, "rules.reload", what, outcome)

    router = ReloadingRouter(config.rules, on_reload=audited)
    router.router.warm_up()
    serializer = TopicSerializer(make_codec(settings, load_store(settings)))
    transform = IngestAndRoute(connectors, router, router.router.directory, serializer)
    return TransactionalLoop(
        bootstrap,
        group_id=f"{config.group_prefix}-ingest",
        transactional_id=f"{config.group_prefix}-ingest-{name}",
        topics=[topics.inbound(instance) for instance in connectors],
        transform=transform,
    )


def run_replacing_hung(
    loop: TransactionalLoop,
    make_loop: Callable[[], TransactionalLoop],
    should_stop: Callable[[], bool],
    on_new: Callable[[TransactionalLoop], None] = lambda _: None,
) -> LoopStats:
    """Run ``loop``; one whose commit hung, or that a passing Kafka error stopped, is
    abandoned and a new one runs in its place, from the committed offsets (tried again every
    5 s while the broker cannot be reached: a commit also outlasts its deadline while the
    only broker is down). Its transactional id fences the old one's producer."""
    while True:
        try:
            return loop.run(should_stop)
        except (CommitHung, KafkaException) as exc:
            if isinstance(exc, KafkaException) and not is_passing(exc):
                raise
            log.error("the ingest worker stopped: %s; starting a new one in its place", exc)
        while True:
            if should_stop():
                return loop.stats
            try:
                loop = make_loop()
                break
            except (BrokerNotReachable, KafkaException) as exc:
                log.warning("starting a new ingest worker: %s; trying again in 5 s", exc)
                time.sleep(5)
        on_new(loop)


def run_ingest(
    config_path: Path, name: str, bootstrap: str, stop: threading.Event | None = None
) -> LoopStats:
    stop = stop or stop_on_signals()

    def make() -> TransactionalLoop:
        return ingest_loop(config_path, name, bootstrap)

    log.info("ingest worker %s running", name)
    return run_replacing_hung(make(), make, stop.is_set)
