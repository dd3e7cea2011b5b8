"""The audit trail as the console shows it: followed into memory (hub.console.follow), its
chain verified again only when records were added since the last verification."""

from __future__ import annotations

import threading

from confluent_kafka import Message

from hub import audit
from hub.audit import Entry, Listed, Verdict


class TrailView:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Listed] = []
        self._verified: tuple[int, str, Verdict] | None = None  # (records, key, verdict)

    def take(self, msg: Message) -> None:
        raw = msg.value() or b""
        try:
            item = Listed(msg.offset(), raw, Entry.from_json(raw))
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            item = Listed(msg.offset(), raw, malformed=f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.items.append(item)

    def listed(self) -> list[Listed]:
        with self._lock:
            return list(self.items)

    def verdict(self, public_key: str) -> Verdict:
        """``lapor-hub audit verify``'s check of the whole chain, made again only when the
        trail grew (or the key changed)."""
        trail = self.listed()
        known = self._verified
        if known is None or known[0] != len(trail) or known[1] != public_key:
            self._verified = (len(trail), public_key, audit.verify(trail, public_key))
        return self._verified[2]
