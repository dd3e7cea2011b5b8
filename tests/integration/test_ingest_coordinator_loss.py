"""The ingest worker gets over losing the broker that coordinates its group.

librdkafka 2.16's send_offsets_to_transaction can wait for good on a group coordinator whose
broker left the cluster (librdkafka#5511; its timeout is not checked, #5456). Before the
hub noticed, stopping that broker of a three-node cluster stopped the translate-and-route
hop for good, without a word: reports filed during the outage and after it were never
routed. Here reports are filed one a second while that broker is down; every one must
reach its destination app.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from pathlib import Path

import pytest
import yaml

from connectors.simulator import serve
from hub.runtime import HubRuntime, wait_until
from hub.samples import sample_report
from hub.sdk.reports import hub_id
from tests.integration.test_hub_under_faults import Network, group_coordinator

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
ORIGIN = "warga-app"


def test_ingest_gets_over_losing_its_group_coordinator(
    local_cluster_factory, tmp_path: Path
) -> None:
    cluster = local_cluster_factory(3)  # stopped by the fixture
    cluster.start()
    network = Network()
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(serve(a.app)) for name, a in network.apps().items()}
        config_path = tmp_path / "hub.yaml"
        config_path.write_text(yaml.safe_dump(network.config(urls, replication=3)))
        hub = HubRuntime(config_path, cluster.bootstrap, name="1", primary=True)
        stop = threading.Event()
        thread = threading.Thread(target=hub.run, args=(stop,), daemon=True)
        thread.start()
        stack.callback(thread.join, 60)
        stack.callback(stop.set)
        assert wait_until(hub.started.is_set, 90), "the hub did not start"

        rng = random.Random(3)
        filed: list[str] = []

        def file(count: int, every: float = 0.0) -> None:
            for _ in range(count):
                report = sample_report(rng)
                made = network.origin.citizen_files(
                    judul=report["title"],
                    isi=report["body"],
                    lokasi={"kode_wilayah": report["location"]["region_code"]},
                )
                filed.append(hub_id(ORIGIN, made["tracking_id"]))
                time.sleep(every)

        def routed_all() -> bool:
            held = {key.split(":")[0] for key in network.held()}
            return set(filed) <= held

        file(5)
        assert wait_until(routed_all, 60), "reports were delivered before the fault"
        node = group_coordinator(cluster.bootstrap, "faults-ingest")
        cluster.stop_node(node)
        file(20, every=1.0)  # while it is down: a commit waits on it
        assert wait_until(routed_all, 90), (
            f"{len(set(filed) - {k.split(':')[0] for k in network.held()})} of "
            f"{len(filed)} reports never reached a destination with node {node} down"
        )
        cluster.start_node(node)
        file(5)
        assert wait_until(routed_all, 90), "reports filed after it came back"
