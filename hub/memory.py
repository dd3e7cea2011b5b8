"""The garbage collector of a long-running hub process, tuned once it has started.

Measured with perf on the event loop's thread of `lapor-hub up` at 300 reports/s (2 cores):
Python's cyclic collector took ~10% of that thread's CPU. A delivery makes hundreds of
container objects (the decoded report, the HTTP exchange), so the youngest generation was
collected every few deliveries; and each full collection walked everything the process
made at startup (routing rules, the agency directory, the gazetteer, schemas), which never
becomes garbage. Two changes, after start-up:

- ``gc.freeze()``: what start-up made moves to a generation no collection walks;
- the youngest generation is collected every 10,000 allocations instead of 700.

Reference counting still frees almost everything at once; only cyclic garbage waits a
little longer. The tracker is not tuned so: measured, it spent ~5% more CPU an event (its
states are kept as bytes instead, which no collection walks: hub.tracker.lifecycle).
``LAPOR_HUB_GC=default`` keeps Python's own settings (to tell a memory problem of the
tuning's from one of the hub's).
"""

from __future__ import annotations

import gc
import os

YOUNGEST = 10_000  # Python's default is 700
OLDER = 20  # collections of one generation before the next is collected (default 10)


def tune_collector() -> bool:
    """Freeze what the process holds now and space out collections; False if turned off."""
    if os.environ.get("LAPOR_HUB_GC", "").lower() == "default":
        return False
    gc.collect()  # what start-up left as garbage is not frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNGEST, OLDER, OLDER)
    return True
