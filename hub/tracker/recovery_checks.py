"""The tracker's guards around faust's table recovery, which it runs with the app: records
faust dropped during a recovery are read again (``rewind``), and a finished recovery is
checked against the changelog and mended (``check``); hub.tracker.recovery says why both
are needed and holds their pure parts."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from hub.kafka import read_to_end
from hub.tracker.metrics import RECOVERY_MISSES, REWOUND
from hub.tracker.recovery import (
    REWIND_AFTER,
    correct_store,
    fetch_positions,
    latest_records,
    to_read_again,
)

log = logging.getLogger(__name__)


class RecoveryChecks:
    check_seconds = 60.0  # how long a check waits for a broker that is away

    def __init__(self, app: Any, table: Any, bootstrap: str, changelog: str) -> None:
        self.app, self.table = app, table
        self.bootstrap, self.changelog = bootstrap, changelog
        self._rewound_at: dict[Any, float] = {}  # changelog partition -> when sought back

    async def rewind(self) -> None:
        """Read again the changelog records faust dropped during a table recovery
        (hub.tracker.recovery), at most once per partition every REWIND_AFTER seconds."""
        recovery, now = self.app.tables.recovery, time.monotonic()
        if not recovery.in_recovery:
            return
        positions = fetch_positions(self.app)
        rewind = {
            tp: offset
            for tp, offset in to_read_again(recovery, positions, now).items()
            if now - self._rewound_at.get(tp, -REWIND_AFTER) >= REWIND_AFTER
        }
        for tp, offset in rewind.items():
            log.warning(
                "the table recovery had received none of %s[%d]'s records from offset %d to "
                "%d for %.0f s: faust dropped them; reading them again",
                tp.topic,
                tp.partition,
                offset,
                positions[tp] - 1,
                REWIND_AFTER,
            )
            self._rewound_at[tp] = now
        if not rewind:
            return
        try:
            await self.app.consumer.seek_wait(rewind)
        except Exception as exc:  # rebalancing: the next recovery seeks anyway
            log.warning("could not seek the table recovery back: %r", exc)
        REWOUND.inc(len(rewind))

    async def check(self) -> None:
        """After faust's table recovery, before the agent resumes: the table must hold each
        report's last changelog record (hub.tracker.recovery.correct_store says why). Reads
        the active changelog partitions again, whole, with a consumer of its own."""
        changelog = self.changelog
        active = self.app.tables.recovery.actives_for_table.get(self.table, set())
        numbers = sorted(tp.partition for tp in active if tp.topic == changelog)
        if not numbers:
            return
        started = time.monotonic()

        def read() -> dict:
            records = read_to_end(self.bootstrap, changelog, partitions=numbers, stall_seconds=15)
            return latest_records(records)

        while True:  # a recovery can end while its only broker restarts: try for a minute
            try:
                latest = await asyncio.to_thread(read)
                break
            except Exception as exc:  # HubError, KafkaException: the broker is away
                if time.monotonic() - started > self.check_seconds:
                    log.warning(
                        "could not check the table's recovery against its changelog: %s", exc
                    )
                    return
                await asyncio.sleep(2.0)
        # the table keeps each state as its changelog record's bytes
        wrong = correct_store(self.table.data, latest, bytes)
        took = time.monotonic() - started
        if wrong:
            log.warning(
                "the table's recovery had missed the last changelog record of %d reports "
                "(by partition: %s); set from the changelog in %.1f s",
                sum(wrong.values()),
                dict(sorted(wrong.items())),
                took,
            )
            RECOVERY_MISSES.inc(sum(wrong.values()))
        else:
            log.info("the table's recovery of %s checked in %.1f s", numbers, took)
