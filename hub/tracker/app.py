"""The tracker: the hub's state plane, a faust-streaming app (``lapor-hub tracker``).

One agent reads, keyed by hub id: the routing decisions (``lapor.routed``), the status
updates of every connector (``lapor.status.*``) and the tracker's own clock ticks
(``lapor.tracker.ticks``). A changelog-backed table holds each report's state
(hub.tracker.lifecycle); after a crash it is rebuilt from its compacted changelog. Effects
leave through Kafka: statuses for the origin app on ``lapor.feedback.<origin>``, re-routed,
escalated and assigned reports on ``lapor.routed`` and ``lapor.out.<connector>``.

A designation by the national administrator (``lapor-hub reports assign``, hub.ops.assign)
comes in as the hub's other own actions do: a StatusUpdate on the status topic of the
connector that serves the directory's fallback agency, from that agency, with
``designated_agency`` set. The tracker takes it from no other agency (ForgedStatus), routes
the report to the designated agency as its handler (reason "assigned by <operator>:
<reason>") and relieves the handlers before it (hub.tracker.lifecycle).

Delivery is at least once (DESIGN.md: faust's exactly-once has open bugs). What an event
makes the tracker send is acknowledged by the broker before the table records the event, and
the table before the event's offset is committed (faust flushes its producer first;
hub.tracker.transport fix 7 makes that flush wait for the table's writes). So a
tracker killed at any moment either sees the event again and sends its effects again (with
the same idempotency keys, which the delivery ledger and the apps recognise), or has both
its effects sent and its change recorded; an event seen again after that changes nothing.
The agent takes events in batches (BATCH_EVENTS, BATCH_SECONDS) so that one wait covers
the acknowledgements of a whole batch: its states are recorded, and its events marked
handled, after that wait.

Ticks: a leader timer writes one tick to every partition of the ticks topic. The agent
handling a tick scans the reports of that partition only: the process that owns a
partition is the one that changes its reports. Every table write goes to the changelog
partition of its key (Tracker._record), whatever event the agent is handling.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from aiokafka.errors import KafkaConnectionError, KafkaError

from hub import eventloop, topics
from hub.config import build_connectors, load_config
from hub.errors import HubError
from hub.fanout import destination_records, routed_encoder
from hub.health import HEALTH
from hub.kafka import (
    broker_probe,
    ensure_topics,
    make_admin,
    make_consumer,
    partition_of,
)
from hub.privacy import hub_keyring
from hub.records import SOURCE_ID, failure_headers
from hub.routing import ReloadingRouter
from hub.sdk import Capability
from hub.serialization import TopicSerializer, load_store, make_codec
from hub.settings import load_settings
from hub.topic_specs import ensure_hub_topics, tracker_topics
from hub.tracker import lifecycle
from hub.tracker.gaps import GapReader
from hub.tracker.lifecycle import (
    Assign,
    Escalate,
    Feedback,
    Policy,
    Refuse,
    Reroute,
    SlaDefaults,
)
from hub.tracker.metrics import (
    AWAITING_DESIGNATION,
    DESIGNATIONS,
    ESCALATIONS,
    EVENTS,
    OVERDUE,
    PASSED_OVER,
    REFUSED,
    SUGGESTIONS,
    WAITING_FOR_CALENDAR,
    publish_agency_gauges,
)
from hub.tracker.recovery import (
    recovery_stalled,
    recovery_state,
)
from hub.tracker.recovery_checks import RecoveryChecks
from hub.tracker.schedule import Schedule
from hub.tracker.transport import App as TrackerApp
from hub.tracker.transport import KeyedPartitioner, faust_credentials

log = logging.getLogger(__name__)

# the agent takes up to this many events, or what arrives within this many seconds, at once:
# their effects go out together and are awaited once, and a report changed by several of
# them is written once (measured: one event at a time, each waiting for its own
# acknowledgement, ~1,500 events/s at ~620 us of CPU each; in batches ~2,900 at ~340 us)
BATCH_EVENTS = 200
BATCH_SECONDS = 0.05
LOG_APPEND_TIME = 1  # a record's timestamp type when the broker dated it


class ForgedStatus(HubError):
    """A status from a connector that does not deliver to the agency it names."""


class TrackerStopped(HubError):
    """The tracker cannot go on in this process; a new one starts over from the committed
    offsets and the changelog."""


@dataclass(frozen=True)
class GapRecord:
    """A record the gap reader read (confluent-kafka), with faust's message attributes."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int

    @classmethod
    def of(cls, msg: Any) -> GapRecord:
        return cls(msg.topic(), msg.key(), msg.value(), msg.partition(), msg.offset())


@dataclass
class Batch:
    """Events taken together: the states they changed, recorded once everything they sent
    is acknowledged; the messages to mark handled after that."""

    states: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    sent: list[Any] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)

    def clear(self) -> None:
        self.states, self.sent, self.messages, self.applied = {}, [], [], Counter()


def logged_at(message: Any) -> int | None:
    """When the broker logged a record (epoch ms), if the broker dated it (a status topic's
    LogAppendTime); None for a time its producer chose, which nothing should trust."""
    if getattr(message, "timestamp_type", None) != LOG_APPEND_TIME or not message.timestamp:
        return None
    return int(message.timestamp * 1000)


def seen(state: dict[str, Any], topic: str, event: dict[str, Any]) -> bool:
    """Whether ``state`` shows this decision or status update applied (or, for a status,
    waiting for the decision naming its agency)."""
    if topic == topics.ROUTED:
        return lifecycle.decision_id(event["decision"]) in state["applied"]
    update_id = event["update_id"]
    return update_id in state["applied"] or any(
        waiting["update_id"] == update_id for waiting in state["pending"]
    )


def _notes(state: dict[str, Any]) -> tuple[int, int]:
    """How many designations and suggestions the state records (to count the new ones)."""
    return len(state.get("assignments", [])), len(state.get("suggestions", []))


def _count_notes(state: dict[str, Any], before: tuple[int, int]) -> None:
    assigned, suggested = before
    for note in state.get("assignments", [])[assigned:]:
        DESIGNATIONS.labels(note["outcome"].split(":")[0]).inc()
        if note["outcome"] != "assigned":
            log.error(
                "a designation of %s by %s %s",
                note["agency"],
                note["by"],
                note["outcome"],
                extra={"hub_id": state["hub_id"], "stage": "assign"},
            )
    for note in state.get("suggestions", [])[suggested:]:
        SUGGESTIONS.labels(note["outcome"].split(":")[0]).inc()
        if note["outcome"] != "followed":
            log.info(
                "%s named %r as responsible: %s",
                note["by"],
                note["named"],
                note["outcome"],
                extra={"hub_id": state["hub_id"], "stage": "reroute"},
            )


class Tracker:
    recovery_stall_seconds = 60.0

    def __init__(
        self,
        config_path: Path,
        bootstrap: str,
        name: str = "1",
        tick_seconds: float = 5.0,
        sla: SlaDefaults | None = None,
        datadir: Path | None = None,
    ) -> None:
        config = load_config(config_path)
        settings = load_settings()
        self.bootstrap = bootstrap
        ensure_hub_topics(bootstrap, config)
        ensure_topics(make_admin(bootstrap), tracker_topics(config))
        self.config = config
        self.connectors = build_connectors(config)
        self.router = ReloadingRouter(config.rules)
        self.serializer = TopicSerializer(make_codec(settings, load_store(settings)))
        self.sla = sla or SlaDefaults()
        self.partitions = config.topics.partitions
        self.tick_seconds = tick_seconds
        self.applied = Counter()  # events applied by this process, by kind
        self._gauges: dict[int, tuple[Counter, Counter]] = {}  # partition -> (open, overdue)
        self._waiting: dict[int, int] = {}  # partition -> clocks waiting for holiday data
        self._awaiting: dict[int, int] = {}  # partition -> reports awaiting designation
        self._waiting_said = 0.0
        self.schedule = Schedule(self.partitions)  # which reports a tick must look at
        home = datadir or Path(settings.home) / "tracker"
        (home / name).mkdir(parents=True, exist_ok=True)
        self.app = TrackerApp(
            topics.tracker_app(config.group_prefix),
            broker_credentials=faust_credentials(),
            broker=";".join(f"kafka://{host}" for host in bootstrap.split(",")),
            store="memory://",
            web_enabled=False,
            datadir=str(home / name),
            topic_partitions=self.partitions,
            topic_replication_factor=config.topics.replication,
            consumer_auto_offset_reset="earliest",
            processing_guarantee="at_least_once",
            broker_commit_interval=1.0,
            # a tracker killed outright is noticed in 10 s, not faust's 60: its partitions
            # go to the survivors (or its restarted self) that much sooner
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
            producer_acks=-1,
            # what a batch of events sends (effects and changelog writes) leaves in a few
            # produce requests, not one each: a request's socket write was the tracker's
            # largest single cost (bench/README, sizing)
            producer_linger=0.02,
            producer_partitioner=KeyedPartitioner(),
            key_serializer="raw",
            value_serializer="json",
        )
        self.table = self.app.Table(
            "reports",
            default=None,
            partitions=self.partitions,
            key_type=bytes,  # the hub id, raw in the changelog
            # each report's state as its JSON bytes (lifecycle.encode_state), as the
            # changelog holds it (bytes: faust's "raw"): read with state(), written with
            # _record()
            value_type=bytes,
        )
        inputs = [topics.ROUTED, topics.TICKS]
        inputs += [topics.status(instance) for instance in self.connectors]
        self.inputs = self.app.topic(*inputs, key_serializer="raw", value_serializer="raw")
        self.streams = [topic for topic in inputs if topic != topics.TICKS]
        self.app.gaps.topics.update(self.streams)
        self.gap_reader = GapReader(
            lambda: make_consumer(bootstrap, topics.tracker_app(config.group_prefix))
        )
        self.ticks = self.app.topic(topics.TICKS, key_serializer="raw", value_serializer="raw")
        self._outputs: dict[str, faust.TopicT] = {}
        self._told_undated: set[str] = set()  # status topics whose records carry no broker time
        self.app.agent(self.inputs, name="track")(self._track)
        self.recovery = RecoveryChecks(
            self.app, self.table, bootstrap, topics.tracker_changelog(config.group_prefix)
        )
        self.table.on_recover(self.recovery.check)
        self.app.timer(tick_seconds, on_leader=True)(self._send_ticks)

    # -- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set. Raises TrackerStopped when faust's app ends on its
        own, or when its table recovery has received nothing for recovery_stall_seconds
        (after the only broker restarted, faust's recovery has waited on for minutes), or
        when no broker answers as it starts (faust's app does not start twice)."""
        try:
            await self.app.start()
        except KafkaConnectionError as exc:
            raise TrackerStopped(
                f"faust's app could not start: no broker of {self.bootstrap} took its "
                f"connection ({exc}; unreachable, or the connection or its credentials were "
                f"refused: see aiokafka's lines above)"
            ) from exc
        HEALTH.ready_when("kafka", broker_probe(self.bootstrap))
        HEALTH.ready_when("tables", self._recovered)
        try:
            while not stop.is_set():
                HEALTH.beat()
                if self.app.should_stop:
                    raise TrackerStopped("faust's app stopped on its own (see the log above)")
                await self.recovery.rewind()
                quiet = recovery_stalled(
                    self.app.tables.recovery, time.monotonic(), self.recovery_stall_seconds
                )
                if quiet is not None:
                    raise TrackerStopped(
                        f"its table recovery has received no changelog record for {quiet:.0f} s "
                        f"although records remain ({recovery_state(self.app)})"
                    )
                await asyncio.sleep(0.2)
        finally:
            try:
                await asyncio.wait_for(self.app.stop(), 30)
            except TimeoutError:
                log.error("faust's app did not stop within 30 s")
            self.gap_reader.close()

    def _recovered(self) -> str | None:
        """/readyz: faust's tables are recovered from their changelogs (a tracker that
        answers before that would say a report it has not read yet is unknown)."""
        recovery = self.app.tables.recovery
        if recovery.completed.is_set() and not self.app.in_recovery:
            return None
        return f"recovering its tables ({recovery_state(self.app)})"

    async def _send_ticks(self) -> None:
        now = datetime.now(UTC).isoformat().encode()
        for partition in range(self.partitions):
            await self.ticks.send(key=None, value=now, partition=partition)

    # -- the agent -----------------------------------------------------------------------

    async def _track(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(BATCH_EVENTS, BATCH_SECONDS):
            batch = Batch()
            for event in events:
                message = event.message
                if message.topic == topics.TICKS:
                    await self._settle(batch)  # the tick sees what came before it
                    await self._on_tick(message.partition, datetime.now(UTC))
                else:
                    await self._contained(message, batch)
                batch.messages.append(message)
            await self._settle(batch)

    async def _contained(self, message: Any, batch: Batch) -> bool:
        """Apply one record; one the tracker cannot read or apply (no key, bytes no schema
        reads, a value the lifecycle cannot take) becomes a dead letter of stage
        ``tracker`` with the reason, and the tracker goes on. Kafka's own failures are not
        the record's: they stop the tracker, which starts over from its commits."""
        topic, key, value = message.topic, message.key, message.value
        try:
            return await self._on_record(topic, key, value, batch, logged_at(message))
        except (KafkaError, asyncio.CancelledError):
            raise
        except Exception as exc:
            REFUSED.labels(topic).inc()
            log.error(
                "tracker refused a record of %s[%d] offset %d: %s: %s",
                topic,
                message.partition,
                message.offset,
                type(exc).__name__,
                exc,
            )
            headers = failure_headers(
                "tracker",
                "tracker",
                exc,
                topic=topic,
                partition=message.partition,
                offset=message.offset,
            )
            batch.sent.append(
                await self._send(topics.dead_letter("tracker"), key, value or b"", headers)
            )
            return False

    async def _on_record(
        self, topic: str, key: bytes, value: bytes, batch: Batch, logged: int | None = None
    ) -> bool:
        """Apply one decision or status update; False if the table shows it already (read
        again after a crash, or applied at a tick first): then nothing is written.
        ``logged``: when the broker logged the record (epoch ms), if it dated it."""
        if not key:
            raise ValueError("a record without a key (the report's hub id) cannot be tracked")
        hub_id = key.decode()
        # a copy: an event that fails half-way through the lifecycle must change nothing
        pending = batch.states.get(key)
        state = lifecycle.copy_state(pending) if pending is not None else self.state(key)
        event = self.serializer.deserialize(topic, value)
        if state is not None and seen(state, topic, event):
            return False
        state = state or lifecycle.empty_state(hub_id)
        policy = self.policy()
        noted = _notes(state)
        if topic == topics.ROUTED:
            encoded = self.serializer.serialize(topics.REPORTS, event["report"])
            effects = lifecycle.apply_decision(
                state,
                event["report"],
                base64.b64encode(encoded).decode(),
                event["decision"],
                self.sla,
                policy,
                logged,
            )
            kind = "decision"
        else:
            self._check_provenance(topic, event)
            if event.get("designated_agency"):
                self._check_designation(event)
            if logged is None:
                self._undated(topic)
            event["logged_at"] = logged
            effects = lifecycle.apply_status(state, event, self.sla, policy)
            kind = "status"
        batch.sent += await self._send_effects(state, effects)
        _count_notes(state, noted)
        batch.states[key] = state
        batch.applied[kind] += 1
        return True

    def _undated(self, topic: str) -> None:
        """Say once per topic that its statuses carry their producers' own times: they
        cannot be checked against when their report was sent to the agency."""
        if topic in self._told_undated:
            return
        self._told_undated.add(topic)
        log.warning(
            "statuses on %s are not dated by the broker (message.timestamp.type is not "
            "LogAppendTime): a status written before its report was sent to the agency "
            "cannot be told apart; `lapor-hub up` sets it at start where its principal may "
            "(security apply grants it), or set it on the topic by hand",
            topic,
        )

    def _check_provenance(self, topic: str, update: dict[str, Any]) -> None:
        """A status counts only from the connector that delivers to its agency: the agency
        is one the status topic's connector serves (the directory says so), whatever the
        app wrote. A compromised app cannot close, or refuse, another agency's reports."""
        connector = topics.connector_of_status(topic)
        agency = update["agency"]
        directory = self.router.router.directory
        if agency not in directory.agencies:
            raise ForgedStatus(f"a status from {connector} names {agency!r}, no known agency")
        if directory.connector_of(agency) != connector:
            raise ForgedStatus(
                f"a status for {agency} came from {connector}, which does not deliver to it "
                f"({agency} is reached through {directory.connector_of(agency)})"
            )

    def _check_designation(self, update: dict[str, Any]) -> None:
        """Only the national administrator designates a handler: the directory's fallback
        agency (on the status topic of the connector that serves it, as every status)."""
        fallback = self.router.router.directory.fallback
        if update["agency"] != fallback:
            raise ForgedStatus(
                f"a status of {update['agency']} designates {update['designated_agency']!r} "
                f"as the handler; only the national administrator ({fallback}) designates"
            )

    def policy(self) -> Policy:
        """What the lifecycle needs of the directory and the router (rules reload: asked
        for each event)."""
        router = self.router.router
        return Policy(router.directory.fallback, router.max_transfers, self.deliverable)

    def deliverable(self, named: str) -> str | None:
        """The id of the directory agency ``named`` (its id, name or alias) if this hub
        delivers to it (its connector is configured), else None."""
        directory = self.router.router.directory
        agency = named if named in directory else getattr(directory.named(named), "id", None)
        if agency is None or directory.connector_of(agency) not in self.connectors:
            return None
        return agency

    async def _settle(self, batch: Batch) -> None:
        """Once the broker has acknowledged everything the batch's events sent, the table
        records their reports' states, and only then are the events marked handled (their
        offsets may be committed): see the module's doc."""
        if batch.sent:
            await asyncio.gather(*batch.sent)
        for key, state in batch.states.items():
            self._record(key, state)
        for message in batch.messages:
            self.app.handled(message)
        for kind, count in batch.applied.items():
            self.applied[kind] += count
            EVENTS.labels(kind).inc(count)
        batch.clear()

    def state(self, key: bytes) -> dict[str, Any] | None:
        """The table's state of report ``key``: a copy of its own, to read or work on."""
        return lifecycle.decode_state(self.table.get(key))

    def _record(self, key: bytes, state: dict[str, Any]) -> None:
        """``table[key] = state``, its changelog record on the key's own partition (where
        its events are): a batch holds events of several partitions, and faust would take
        the partition of whichever event it is handling."""
        kept = lifecycle.encode_state(state)
        self.table.send_changelog(partition_of(key, self.partitions), key, kept)
        self.table.data[key] = kept
        self.schedule.put(key, state)

    async def _on_tick(self, partition: int, now: datetime) -> None:
        """The passing of time for the reports of one partition: only those the schedule
        says are due (hub.tracker.schedule), not every report tracked."""
        await self._read_gaps(partition)
        batch = Batch()
        policy = self.policy()
        if self.schedule.stale(len(self.table.data)):
            # one state decoded at a time: the table's states are never all dicts at once
            self.schedule.rebuild(
                (key, readable_state(key, kept)) for key, kept in self.table.items()
            )
        for key in self.schedule.due(partition, lifecycle.ms(now)):
            state = readable_state(key, self.table.data.get(key))
            if state is None:
                self.schedule.put(key, None)
                continue
            if lifecycle.waiting_clocks(state) and lifecycle.count_waiting(state):
                batch.states[key] = state  # the holiday data has come: deadlines counted
            if lifecycle.has_due_clock(state, now):
                # one report's escalation that fails (a key ring that cannot seal for the
                # agency it goes to, a directory changed under it) is that report's: logged,
                # counted, its state unchanged, and tried again at the next tick
                working = lifecycle.copy_state(state)
                try:
                    effects = lifecycle.apply_tick(working, now, self.sla, policy)
                    batch.sent += await self._send_effects(working, effects)
                except HubError as exc:
                    REFUSED.labels(topics.TICKS).inc()
                    log.error("a tick of report %s failed: %s", key.decode(errors="replace"), exc)
                else:
                    batch.states[key] = working
            if key not in batch.states:
                self.schedule.put(key, state)  # unchanged: due again at the next tick
        batch.applied["tick"] += 1
        await self._settle(batch)
        gauges = self.schedule.gauges(partition)
        self._gauges[partition] = (Counter(gauges.opened), Counter(gauges.overdue))
        self._publish_gauges()
        self._awaiting[partition] = gauges.awaiting
        AWAITING_DESIGNATION.set(sum(self._awaiting.values()))
        self._waiting[partition] = gauges.waiting
        self._report_waiting()

    def _report_waiting(self) -> None:
        """Clocks that wait for holiday data, loud once a minute: the fix is the operator's."""
        waiting = sum(self._waiting.values())
        WAITING_FOR_CALENDAR.set(waiting)
        if waiting and time.monotonic() - self._waiting_said > 60:
            self._waiting_said = time.monotonic()
            log.error(
                "%d SLA clocks wait for holiday data their deadline year does not have; their "
                "reports stay tracked. Fix: upgrade the holidays package (pip install -U "
                "holidays) once the year's cuti bersama decree is out, then restart the tracker.",
                waiting,
            )

    async def _read_gaps(self, partition: int) -> None:
        """Apply what the agent passed over on this partition's streams (hub.tracker.gaps):
        in the tick's own partition, so each table write goes to its changelog partition."""
        tps = [(topic, partition) for topic in self.streams]
        unknown = self.app.gaps.unknown(tps)
        if unknown:  # no seek seen since they were assigned: from the group's commit
            committed = await asyncio.to_thread(self.gap_reader.committed, unknown)
            for tp, offset in committed.items():
                self.app.gaps.start_at(tp, offset)
            if committed:
                log.warning(
                    "no seek of %s was seen since it was assigned: its records are checked "
                    "from the group's committed offsets (%s)",
                    ", ".join(f"{topic}[{number}]" for topic, number in committed),
                    ", ".join(str(offset) for offset in committed.values()),
                )
        ends = await asyncio.to_thread(self.gap_reader.ends, tps)
        due = self.app.gaps.due(ends)
        if not due:
            return
        try:
            await self._apply_gaps(due)
        except BaseException:
            self.app.gaps.again(due)  # not all applied: at the next tick, whole
            raise
        finally:
            self.app.gaps.finished(due)

    async def _apply_gaps(self, due: dict[tuple[str, int], list[tuple[int, int]]]) -> None:
        try:
            records, unread = await asyncio.to_thread(self.gap_reader.read, due)
        except Exception as exc:  # the broker is away: read them at a later tick
            log.warning("could not read the offsets the tracker passed over: %s", exc)
            self.app.gaps.again(due)
            return
        self.app.gaps.again(unread)
        late: Counter[tuple[str, int]] = Counter()
        batch = Batch()
        for msg in records:
            topic, key = msg.topic(), msg.key() or b""
            if not await self._contained(GapRecord.of(msg), batch):
                continue
            log.info(
                "%s[%d] offset %d applied at a tick: the agent had passed it over",
                topic,
                msg.partition(),
                msg.offset(),
                extra={"hub_id": key.decode("utf-8", "replace"), "stage": "tracker"},
            )
            late[topic, msg.partition()] += 1
        await self._settle(batch)
        for (topic, number), count in late.items():
            PASSED_OVER.inc(count)
            gaps = due[topic, number]
            spans = ", ".join(f"{start}-{end - 1}" for start, end in gaps[:5])
            spans += f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
            log.warning(
                "the tracker's agent had not applied %d records of %s[%d] (offsets %s: lost "
                "inside faust, or its fetch stood still for %.0f s); applied them at a tick",
                count,
                topic,
                number,
                spans,
                self.app.gaps.settle_seconds,
            )

    def _publish_gauges(self) -> None:
        publish_agency_gauges(self._gauges.values())

    # -- effects -------------------------------------------------------------------------

    async def _send_effects(self, state: dict[str, Any], effects: list[Any]) -> list:
        """Send what the effects ask for; the broker's acknowledgements, to wait for before
        the state is recorded."""
        sent = []
        for effect in effects:
            if isinstance(effect, Feedback):
                sent += await self._feedback(state, effect.update)
            elif isinstance(effect, Reroute):
                sent += await self._reroute(state, effect)
            elif isinstance(effect, Escalate):
                sent += await self._escalate(state, effect)
            elif isinstance(effect, Assign):
                sent += await self._assign(state, effect)
            elif isinstance(effect, Refuse):
                sent.append(await self._refuse(state, effect))
        return sent

    async def _refuse(self, state: dict[str, Any], effect: Refuse):
        """A status the lifecycle will not apply: its dead letter, with the reason."""
        update = effect.update
        topic = topics.status(
            self.router.router.directory.connector_of(update["agency"]) or "unknown"
        )
        REFUSED.labels(topic).inc()
        log.error("tracker refused a status of report %s: %s", state["hub_id"], effect.reason)
        value = self.serializer.serialize(
            topic, {**update, "occurred_at": lifecycle.when(update["occurred_at"])}
        )
        headers = failure_headers("tracker", "tracker", ForgedStatus(effect.reason), topic=topic)
        key = state["hub_id"].encode()
        return await self._send(topics.dead_letter("tracker"), key, value, headers)

    async def _send(self, topic: str, key: bytes, value: bytes, headers: dict[str, bytes]):
        if topic not in self._outputs:
            self._outputs[topic] = self.app.topic(
                topic, key_serializer="raw", value_serializer="raw"
            )
        return await self._outputs[topic].send(key=key, value=value, headers=headers)

    async def _feedback(self, state: dict[str, Any], update: dict[str, Any]) -> list:
        origin = self.connectors.get(state["origin"] or "")
        if origin is None or Capability.FEEDBACK not in origin.capabilities:
            return []  # the app the report came from cannot take statuses
        topic = topics.feedback(origin.instance)
        update = {**update, "occurred_at": lifecycle.when(update["occurred_at"])}
        value = self.serializer.serialize(topic, update)
        headers = {SOURCE_ID: (state["source_id"] or "").encode()}
        return [await self._send(topic, state["hub_id"].encode(), value, headers)]

    def _report(self, state: dict[str, Any]) -> dict[str, Any]:
        return self.serializer.deserialize(topics.REPORTS, base64.b64decode(state["report"]))

    async def _reroute(self, state: dict[str, Any], effect: Reroute) -> list:
        """Route again without every agency that refused; the router escalates to the
        national administrator after too many transfers. To the agency the refusing one
        named instead, when the lifecycle follows it (lifecycle.follow_suggestion)."""
        refused_by = effect.refused_by
        if effect.suggested:
            log.info(
                "re-routed after %s refused: to %s, the agency it named",
                refused_by,
                effect.suggested,
                extra={"hub_id": state["hub_id"], "stage": "reroute"},
            )
            record = self._handler_decision(
                state, effect.suggested, f"suggested by {refused_by}", datetime.now(UTC)
            )
            return await self._route(state, self._report(state), record)
        report = self._report(state)
        decision = self.router.router.decide(
            report, excluded=state["chain"], transfers=len(state["chain"])
        )
        record = decision.to_record()
        log.info(
            "re-routed after %s refused: %s",
            refused_by,
            ", ".join(decision.destinations),
            extra={"hub_id": state["hub_id"], "stage": "reroute"},
        )
        return await self._route(state, decision.located(report), record)

    async def _assign(self, state: dict[str, Any], effect: Assign) -> list:
        """The designated agency handles the report: a decision naming it alone."""
        log.info(
            "assigned to %s by %s: %s",
            effect.agency,
            effect.by,
            effect.reason,
            extra={"hub_id": state["hub_id"], "stage": "assign"},
        )
        reason = f"assigned by {effect.by}: {effect.reason}"
        record = self._handler_decision(state, effect.agency, reason, lifecycle.at(effect.at))
        return await self._route(state, self._report(state), record)

    def _handler_decision(
        self, state: dict[str, Any], agency: str, reason: str, decided_at: datetime
    ) -> dict[str, Any]:
        """A RoutingDecision the tracker makes itself: ``agency`` alone, as the handler,
        no rule matched, the agencies that refused kept as excluded."""
        return {
            "hub_id": state["hub_id"],
            "destinations": [{"agency": agency, "role": "HANDLER"}],
            "matched_rules": [],
            "rules_version": self.router.router.version,
            "reason": reason,
            "decided_at": decided_at,
            "priority": None,
            "sla_working_days": state["sla_days"],
            "fallback": False,
            "escalated": False,
            "excluded_agencies": list(state["chain"]),
            "location_note": None,
        }

    async def _escalate(self, state: dict[str, Any], effect: Escalate) -> list:
        directory = self.router.router.directory
        parents = directory.parents(effect.agency)
        OVERDUE.labels(effect.agency, effect.clock).inc()
        if not parents:
            log.warning(
                "%s let its %s clock run out and has no parent to escalate to",
                effect.agency,
                effect.clock,
                extra={"hub_id": state["hub_id"], "stage": "escalate"},
            )
            return []
        parent = parents[0]
        ESCALATIONS.labels(effect.agency).inc()
        now = datetime.now(UTC)
        record = {
            "hub_id": state["hub_id"],
            "destinations": [{"agency": parent, "role": "HANDLER"}],
            "matched_rules": [],
            "rules_version": self.router.router.version,
            "reason": f"escalated: {effect.agency} let its {effect.clock} clock run out",
            "decided_at": now,
            "priority": "HIGH",
            "sla_working_days": None,
            "fallback": False,
            "escalated": True,
            "excluded_agencies": list(state["chain"]),
            "location_note": None,
        }
        escalated = lifecycle.hub_status(state, effect.agency, "ESCALATED", now, effect.clock)
        escalated["message"] = f"diteruskan ke {parent}"
        sent = await self._route(state, self._report(state), record)
        effects = lifecycle.apply_status(state, escalated, self.sla, self.policy())
        for follow in effects:
            if isinstance(follow, Feedback):
                sent += await self._feedback(state, follow.update)
        return sent

    async def _route(
        self, state: dict[str, Any], report: dict[str, Any], record: dict[str, Any]
    ) -> list:
        key = state["hub_id"].encode()
        encode = routed_encoder(self.serializer, record)
        routed = encode({"report": report, "decision": record})
        outputs = destination_records(
            key,
            {"report": report, "decision": record},
            self.router.router.directory,
            self.connectors,
            encode,
            hub_keyring(),
        )
        sent = [await self._send(topics.ROUTED, key, routed, {})]
        for output in outputs:
            sent.append(await self._send(output.topic, output.key, output.value, output.headers))
        return sent


def readable_state(key: bytes, kept: bytes | None) -> dict[str, Any] | None:
    """A stored state for the ticks, or None (logged) if its bytes are not a state's JSON:
    one unreadable state must not stop the clocks of every other report. (Its events are
    refused and dead-lettered one by one, as any event that fails.)"""
    try:
        state = lifecycle.decode_state(kept)
        if state is not None and not isinstance(state, dict):
            raise ValueError(f"JSON {type(state).__name__}, not a state's object")
        return state
    except ValueError as exc:  # orjson.JSONDecodeError too
        log.error(
            "the tracker's state of report %s cannot be read (%s): its clocks are left out",
            key.decode("utf-8", "replace"),
            exc,
        )
        return None


def run_tracker(
    config_path: Path, bootstrap: str, name: str, tick_seconds: float = 5.0
) -> dict[str, int]:
    """Run until SIGTERM or SIGINT; returns how many events of each kind it applied."""
    import signal

    from hub.keyshare import agree
    from hub.privacy import PrivacyError, keyring_source
    from hub.settings import load_settings

    # it re-seals identities for the agencies a report is routed to again: with the
    # network's ring, checked as every hub process checks it
    ring, home = hub_keyring(), load_settings().home
    if ring.connector is not None:
        raise PrivacyError(
            f"the tracker needs the network's identity key ring, not connector "
            f"{ring.connector}'s ({keyring_source(home)})"
        )
    agree(bootstrap, ring, keyring_source(home))
    tracker = Tracker(config_path, bootstrap, name, tick_seconds)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        started = time.monotonic()
        log.info("tracker %s starting", name)
        await tracker.run(stop)
        log.info("tracker %s stopped after %.0f s", name, time.monotonic() - started)

    try:
        eventloop.run(main())
    except TrackerStopped as exc:
        # exit as a SIGKILL would (at-least-once makes that safe), so that no thread of a
        # stuck faust keeps the process alive: `lapor-hub up` starts a new tracker
        log.error("tracker %s stops: %s; a new one starts over", name, exc.message)
        logging.shutdown()
        os._exit(3)
    return dict(tracker.applied)
