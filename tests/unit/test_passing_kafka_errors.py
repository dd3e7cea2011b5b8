"""Which Kafka errors a hub worker waits out, and which stop it with their reason."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, Message

from hub.kafka import is_passing, leaves_partitions_unfetched


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.NOT_COORDINATOR,  # a commit while the group coordinator moves
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError._TRANSPORT,  # the broker went away
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._WAIT_COORD,  # a commit while the coordinator is looked up again
        KafkaError._MSG_TIMED_OUT,  # a DurableProducer's flush ran out of time
        KafkaError._UNKNOWN_PARTITION,  # not in the metadata until the broker leads it again
    ],
)
def test_a_coordinator_or_leader_moving_or_a_broker_restarting_passes(code: int) -> None:
    assert is_passing(KafkaException(KafkaError(code)))


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._INVALID_ARG,
    ],
)
def test_a_refused_principal_or_a_wrong_setting_does_not(code: int) -> None:
    assert not is_passing(KafkaException(KafkaError(code)))


def test_an_exception_without_a_kafka_error_does_not() -> None:
    assert not is_passing(KafkaException("something else"))


def test_a_failed_fetch_of_the_committed_offsets_that_start_partitions_is_told_apart() -> None:
    """In librdkafka's own words (rdkafka_assignment.c), for all of them or for one."""
    for_all = 'Failed to fetch committed offsets for 0 partition(s) in group "g": Not coordinator'
    for_one = 'Failed to fetch committed offset for group "g" topic t [0]: Not coordinator'
    assert leaves_partitions_unfetched(fetch_error(None, KafkaError.NOT_COORDINATOR, for_all))
    assert leaves_partitions_unfetched(fetch_error("t", KafkaError.NOT_COORDINATOR, for_one))
    # a refused principal is the caller's to raise; a commit's failure leaves no partition
    refused = fetch_error(None, KafkaError.GROUP_AUTHORIZATION_FAILED, for_all)
    assert not leaves_partitions_unfetched(refused)
    commit = fetch_error(None, KafkaError.NOT_COORDINATOR, "Commit failed: Not coordinator")
    assert not leaves_partitions_unfetched(commit)
    assert not leaves_partitions_unfetched(Message(topic="t", value=b"laporan"))


def fetch_error(topic: str | None, code: int, text: str) -> Message:
    return Message(topic=topic, error=KafkaError(code, text))


def test_a_delivery_commit_not_waited_for_fails_the_next_step_only_if_it_does_not_pass():
    """The delivery worker does not wait for its commits (the ledger holds what it
    delivered); one refused for good is raised at its next step, one that passes only reads
    the batch again."""
    from types import SimpleNamespace

    from confluent_kafka import TopicPartition

    from hub.dataplane.deliver import DeliveryWorker

    worker = SimpleNamespace(_commit_failed=None)
    DeliveryWorker._committed(worker, KafkaError(KafkaError.REBALANCE_IN_PROGRESS), [])
    assert worker._commit_failed is None
    DeliveryWorker._committed(worker, None, [TopicPartition("lapor.out.x", 0, 5)])
    assert worker._commit_failed is None, "a partition committed without error"
    DeliveryWorker._committed(worker, KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED), [])
    assert worker._commit_failed.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
