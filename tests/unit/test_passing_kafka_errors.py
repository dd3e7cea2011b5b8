"""Which Kafka errors a hub worker waits out, and which stop it with their reason."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from hub.kafka import is_passing


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
