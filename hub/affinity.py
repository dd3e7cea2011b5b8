"""Keeping a hub process on the cores it is given (``--cpus``, as taskset's list: ``1``,
``0,2``, ``2-3``).

A hub process's Python threads (its event loop, the route hop's thread) take turns on one
interpreter lock, and the interpreter's data moves with whichever holds it: on a core of
their own they keep it in that core's caches. 30 s probes at 300 reports/s on 2 cores,
alternated: 1.28-1.46 ms of CPU a report with the hub on one core, 1.50-1.59 without, and
p99 ingest-to-2xx 197-224 ms against 256-270 (bench/README.md, sizing.py)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hub.errors import HubError

# Linux's largest number of cores (NR_CPUS): a mistyped range is refused, not spelt out
MAX_CPUS = 8192


def parse_cpus(text: str) -> set[int]:
    """``1``, ``0,2``, ``2-3`` -> the cores' numbers; HubError for anything else."""
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            low, high = int(first), int(last or first)
            if low < 0 or high < low or high >= MAX_CPUS:
                raise ValueError(part)
            cpus.update(range(low, high + 1))
    except ValueError:
        raise HubError(
            f"--cpus {text!r} is no list of cores",
            fix="give core numbers as taskset -c takes them: 1, 0,2 or 2-3.",
        ) from None
    return cpus


def pin(cpus: set[int]) -> None:
    """Every thread of this process on ``cpus``, and the threads and processes it starts
    later (they inherit their starter's). HubError if this process may not run there (a
    core the machine does not have, or outside its container's cpuset)."""
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except OSError as exc:
                raise HubError(
                    f"this process cannot run on cores {_listed(cpus)}: {exc.strerror}",
                    fix=f"choose among the machine's cores 0-{(os.cpu_count() or 1) - 1} "
                    "(in a container, those of its cpuset).",
                ) from None
    given = os.sched_getaffinity(0)
    if given != cpus:  # the kernel keeps only the cores a cpuset allows
        raise HubError(
            f"this process may run only on cores {_listed(given)} of {_listed(cpus)}",
            fix="choose among the cores its container or cgroup gives it.",
        )


def _listed(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))
