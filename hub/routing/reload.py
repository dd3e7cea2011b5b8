"""Rules that reload in a running hub: edit the YAML, and the next decisions use it.

The folder is looked at no more than once per ``interval`` (a stat of each file). New rules
are loaded in a background thread (10,000 rules take seconds) and swapped in whole, so
decisions never wait for a reload. A change that does not load (a YAML error, an unknown
agency) is logged and refused: the hub keeps routing with the rules it had, and
``last_error`` says why the new ones were not taken. New rules are taken only once their
reload is in the audit trail (``on_reload``): if it cannot be recorded, they are not used.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hub.errors import RulesError
from hub.routing.check import check_rules
from hub.routing.directory import load_directory
from hub.routing.engine import Router
from hub.routing.rules import load_rules

log = logging.getLogger(__name__)


def build_router(folder: Path) -> Router:
    """Load the directory and rules under ``folder`` and refuse a set that fails its check."""
    router = Router(load_rules(folder), load_directory(folder / "directory"))
    problems = [p for p in check_rules(router) if "shadowed by" not in p]
    if problems:
        raise RulesError(
            f"The routing rules have {len(problems)} error(s):\n  " + "\n  ".join(problems),
            fix="run `lapor-hub rules check` and fix the places named.",
        )
    return router


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (str(p), p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.rglob("*.yaml"))
        if "tests" not in p.relative_to(folder).parts
    )


class ReloadingRouter:
    def __init__(
        self,
        folder: Path,
        interval: float = 2.0,
        background: bool = True,
        on_reload: Callable[[str, str, str], None] | None = None,
    ) -> None:
        """``on_reload(old version, new version or "", outcome)`` is told of each attempt
        (the hub records it in the audit trail)."""
        self.folder = folder
        self.on_reload = on_reload
        self.interval = interval
        self.background = background
        self._router = build_router(folder)
        self._signature = _signature(folder)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def router(self) -> Router:
        if time.monotonic() - self._checked >= self.interval and not self._lock.locked():
            self._checked = time.monotonic()
            if self.background:
                threading.Thread(target=self.reload_if_changed, daemon=True).start()
            else:
                self.reload_if_changed()
        return self._router

    def reload_if_changed(self) -> bool:
        """Load the rules again if a file changed; True if new rules are now in use."""
        with self._lock:
            signature = _signature(self.folder)
            if signature == self._signature:
                return False
            self._signature = signature
            try:
                router = build_router(self.folder)
            except RulesError as exc:
                self.last_error = str(exc)
                log.error(
                    "routing rules not reloaded, still using %s: %s", self._router.version, exc
                )
                self._told(self._router.version, "", f"refused: {str(exc)[:300]}")
                return False
            router.warm_up()
            old = self._router.version
            try:  # recorded first: rules the trail does not show are never used
                if self.on_reload is not None:
                    self.on_reload(old, router.version, "ok")
            except Exception as exc:
                self.last_error = f"not taken: the reload could not be recorded ({exc})"
                log.error(
                    "routing rules %s not taken, still using %s: their reload could not be "
                    "recorded in the audit trail (%s); fix that, then save the rules again",
                    router.version,
                    old,
                    exc,
                )
                return False
            log.info("routing rules reloaded: %s -> %s", old, router.version)
            self._router, self.last_error = router, None
            return True

    def _told(self, old: str, new: str, outcome: str) -> None:
        """A refused reload, recorded if it can be (nothing changed either way)."""
        if self.on_reload is None:
            return
        try:
            self.on_reload(old, new, outcome)
        except Exception:  # routing goes on with the rules it had
            log.exception("the refused rules reload could not be recorded")
