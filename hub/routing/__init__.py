"""Routing: the agency directory, rules as YAML, the engine that applies them.

No Kafka here: the data plane calls ``Router.decide`` (usually through ``ReloadingRouter``)
and writes the decision it gets.
"""

from __future__ import annotations

from pathlib import Path

from hub.routing.cases import run_cases
from hub.routing.check import check_rules
from hub.routing.directory import Directory, load_directory
from hub.routing.engine import Decision, Router
from hub.routing.reload import ReloadingRouter, build_router
from hub.routing.rules import load_rules

__all__ = [
    "Decision",
    "Directory",
    "ReloadingRouter",
    "Router",
    "build_router",
    "check_rules",
    "default_rules_dir",
    "load_directory",
    "load_rules",
    "run_cases",
]


def default_rules_dir() -> Path:
    """``routing_rules/`` of a source checkout, or the copy packaged into the wheel."""
    packaged = Path(__file__).parent / "rules_data"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "routing_rules"
