"""The CPU a hub process is given: the cores it runs on (``--cpus``, as taskset's list:
``1``, ``0,2``, ``2-3``), and how it shares them (``--nice``).

A hub process's Python threads (its event loop, the route hop's thread) take turns on one
interpreter lock, and the interpreter's data moves with whichever holds it: on a core of
their own they keep it in that core's caches. 30 s probes at 300 reports/s on 2 cores,
alternated: 1.28-1.46 ms of CPU a report with the hub on one core, 1.50-1.59 without, and
p99 ingest-to-2xx 197-224 ms against 256-270 (bench/README.md, sizing.py)."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from hub.errors import HubError

# Linux's largest number of cores (NR_CPUS): a mistyped range is refused, not spelt out
MAX_CPUS = 8192
_PART = re.compile(r"(\d+)(?:-(\d+))?", re.ASCII)  # one core or a range, ASCII digits only


def parse_cpus(text: str) -> set[int]:
    """``1``, ``0,2``, ``2-3`` -> the cores' numbers; HubError for anything else."""
    cpus: set[int] = set()
    for part in text.split(","):
        found = _PART.fullmatch(part.strip())
        low, high = (int(found[1]), int(found[2] or found[1])) if found else (0, -1)
        if high < low or high >= MAX_CPUS:
            raise HubError(
                f"--cpus {text[:40]!r} is no list of cores",
                fix="give core numbers as taskset -c takes them: 1, 0,2 or 2-3.",
            )
        cpus.update(range(low, high + 1))
    return cpus


def usable_cpus() -> set[int]:
    """The cores this process may be given: its cgroup's cpuset (a container's), else the
    machine's online cores (not its current affinity, which a pinned parent narrowed)."""
    for listing in ("/sys/fs/cgroup/cpuset.cpus.effective", "/sys/devices/system/cpu/online"):
        with contextlib.suppress(OSError, HubError):
            if text := Path(listing).read_text().strip():
                return parse_cpus(text)
    return set(range(os.cpu_count() or 1))


def pin(cpus: set[int]) -> None:
    """Every thread of this process on ``cpus``, and the threads and processes it starts
    later (they inherit their starter's). HubError, naming the cores it may use, for a
    core the process may not run on (one the machine does not have, outside its
    container's cpuset)."""
    usable = usable_cpus()
    if missing := cpus - usable:
        raise HubError(
            f"this process cannot run on cores {listed(missing)}: it may use {listed(usable)}",
            fix=f"choose among cores {listed(usable)}.",
        )
    pinned: set[str] = set()
    while waiting := {t.name for t in Path("/proc/self/task").iterdir()} - pinned:
        for task in waiting:  # again until none is new: a thread may start another meanwhile
            try:
                os.sched_setaffinity(int(task), cpus)
            except ProcessLookupError:  # a thread that ended meanwhile
                continue
            except OSError as exc:
                raise HubError(
                    f"this process cannot run on cores {listed(cpus)}: {exc.strerror}",
                    fix=f"choose among cores {listed(usable)}.",
                ) from None
        pinned |= waiting
    given = os.sched_getaffinity(0)
    if given != cpus:  # the kernel keeps only the cores a cpuset allows
        raise HubError(
            f"this process may run only on cores {listed(given)} of {listed(cpus)}",
            fix="choose among the cores its container or cgroup gives it.",
        )


def lower_priority(by: int) -> None:
    """Every thread of this process ``by`` steps nicer (as nice(1): 0-19), and the threads
    and processes it starts later. Linux keeps a priority per thread, so each thread is
    told, as pin() does. On a machine the data plane shares with the tracker, the tracker
    runs so (``lapor-hub up --tracker-nice``): when the cores are short, a delivery waits
    less and a status more (docs/operations.md, Sizing)."""
    done: set[str] = set()
    while waiting := {t.name for t in Path("/proc/self/task").iterdir()} - done:
        for task in waiting:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                now = os.getpriority(os.PRIO_PROCESS, int(task))
                os.setpriority(os.PRIO_PROCESS, int(task), min(now + by, 19))
        done |= waiting


def listed(cpus: set[int]) -> str:
    """As taskset lists cores: ``0-3,6``."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(f"{low}-{high}" if high > low else str(low) for low, high in runs)
