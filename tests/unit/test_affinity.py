"""--cpus: a list of cores read as taskset reads it, and every thread of the process (those
before and those after) kept on them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hub.affinity import listed, parse_cpus, usable_cpus
from hub.errors import HubError

several_cores = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="one core: any pin is where it was"
)


@pytest.mark.parametrize(
    ("text", "cores"),
    [("1", {1}), ("0,2", {0, 2}), ("2-4", {2, 3, 4}), ("0, 3-4", {0, 3, 4}), ("5-5", {5})],
)
def test_a_list_of_cores_reads_as_taskset_reads_it(text: str, cores: set[int]) -> None:
    assert parse_cpus(text) == cores


@pytest.mark.parametrize(
    "text",
    [
        *("", "one", "-1", "3-1", "1,", "1-2-3", "0x1", "0-1000000000", "8192"),
        *("1-", "1_0", "+1", "\u0661", "1 - 1"),  # what int() would read, taskset would not
    ],
)
def test_what_is_no_list_of_cores_is_refused_with_the_form_to_use(text: str) -> None:
    with pytest.raises(HubError) as refused:
        parse_cpus(text)
    assert "no list of cores" in str(refused.value)
    assert "taskset" in refused.value.fix


def test_cores_are_listed_as_taskset_lists_them() -> None:
    assert listed({0, 1, 2, 3, 6, 8, 9}) == "0-3,6,8-9"
    assert listed({5}) == "5"
    assert parse_cpus(listed(usable_cpus())) == usable_cpus()


THREADS = """
import os, sys, threading, time
from pathlib import Path
from hub.affinity import lower_priority, pin

stop = threading.Event()
before = threading.Thread(target=stop.wait, daemon=True)
before.start()
{change}
after = threading.Thread(target=stop.wait, daemon=True)
after.start()
time.sleep(0.1)
found = {{task.name: {reading} for task in Path("/proc/self/task").iterdir()}}
print(len(found), sorted(set(found.values())))
stop.set()
"""
# each thread's cores as /proc lists them, and its nice value
CORES = '(task / "status").read_text().split("Cpus_allowed_list:")[1].split()[0]'
NICE = "os.getpriority(os.PRIO_PROCESS, int(task.name))"


def pinned(core: int) -> str:
    return THREADS.format(change=f"pin({{{core}}})", reading=CORES)


def run_script(script: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=check
    )


@several_cores
def test_every_thread_of_the_process_runs_on_the_cores_given() -> None:
    core = max(os.sched_getaffinity(0))
    done = run_script(pinned(core))
    threads, lists = done.stdout.split(maxsplit=1)
    assert int(threads) >= 3  # the main thread, one started before, one after
    assert lists.strip() == f"['{core}']"


def test_a_core_the_process_may_not_use_is_refused_naming_those_it_may() -> None:
    beyond = (os.cpu_count() or 1) + 7
    done = run_script(pinned(beyond), check=False)
    assert done.returncode != 0
    assert f"cannot run on cores {beyond}: it may use {listed(usable_cpus())}" in done.stderr


@pytest.mark.parametrize("by", [3, 19])
def test_every_thread_of_the_process_runs_nicer_by_the_steps_given(by: int) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    done = run_script(THREADS.format(change=f"lower_priority({by})", reading=NICE))
    threads, values = done.stdout.split(maxsplit=1)
    assert int(threads) >= 3  # the main thread, one started before, one after
    assert values.strip() == f"[{min(ours + by, 19)}]"
