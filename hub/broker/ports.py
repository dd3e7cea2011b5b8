"""Loopback ports and broker processes: which ports are free, whether a node's process is
gone (a zombie child is reaped)."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from pathlib import Path

from hub.errors import PortInUse

HOST = "127.0.0.1"
SECURE_PORT_OFFSET = 1000  # node i's SASL_SSL listener: its PLAINTEXT port + 1000


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    if stat.rsplit(")", 1)[1].split()[0] != "Z":
        return False
    with contextlib.suppress(ChildProcessError):  # reap our own child so it does not linger
        os.waitpid(pid, os.WNOHANG)
    return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_zombie(pid):
            return True
        time.sleep(0.1)
    return is_zombie(pid)


def ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_base_port(nodes: int = 1, low: int = 20000, high: int | None = None) -> int:
    """A base port whose 2 x ``nodes`` consecutive ports are free now, and the SASL_SSL ports
    ``SECURE_PORT_OFFSET`` above them (for tests and demos).

    Ports are taken below the kernel's ephemeral range, where client connections are given
    ports: a port chosen there could be taken by a client before Kafka binds it.
    """
    high = high or ephemeral_start()
    for _ in range(200):
        base = random.randrange(low, high - 2 * nodes - SECURE_PORT_OFFSET)
        ports = [*range(base, base + 2 * nodes)]
        ports += [base + 2 * n + SECURE_PORT_OFFSET for n in range(nodes)]
        if all(port_free(port) for port in ports):
            return base
    raise PortInUse(
        f"No {2 * nodes} consecutive free ports were found between {low} and {high}.",
        fix="free some loopback ports or pass --port.",
    )
