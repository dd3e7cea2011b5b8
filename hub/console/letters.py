"""Dead letters as the console shows them: every letter of every ``lapor.dlq.<stage>``
topic and every replay of ``lapor.replays``, followed into memory (hub.console.follow).

Dead letters are few next to reports (each one is a fault an operator should look at), so
the letters themselves are kept; grouping, filtering and opening one cost no topic read.
Replays go through hub.ops.deadletters, the CLI's own path (rate, checked targets, the
record in lapor.replays and the audit trail).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable

from confluent_kafka import Message

from hub.ops.deadletters import Filter
from hub.records import Letter


class LettersView:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.letters: dict[str, Letter] = {}
        self.replayed: set[str] = set()

    def take_letter(self, msg: Message) -> None:
        letter = Letter.from_message(msg)
        with self._lock:
            self.letters[letter.id] = letter

    def take_replay(self, msg: Message) -> None:
        record = json.loads(msg.value() or b"{}")
        if record.get("outcome") == "replayed":
            with self._lock:
                self.replayed.update(record.get("letters", []))

    def chosen(self, chosen: Filter, keep: Callable[[Letter], bool] | None = None) -> list[Letter]:
        """The letters a filter keeps (and ``keep``: an agency operator's own), newest
        first."""
        with self._lock:
            letters = list(self.letters.values())
        found = [
            letter
            for letter in letters
            if letter.stage in chosen.stages
            and chosen.keeps(letter)
            and (keep is None or keep(letter))
        ]
        found.sort(key=lambda letter: letter.timestamp, reverse=True)
        return found

    def get(self, letter_id: str) -> Letter | None:
        with self._lock:
            return self.letters.get(letter_id)

    def groups(self, letters: Iterable[Letter]) -> list[tuple[tuple[str, ...], int, int]]:
        """(stage, connector, error class, reason) -> letters, and how many wait for a
        replay (not replayed yet), the largest groups first."""
        total: Counter[tuple[str, ...]] = Counter()
        waiting: Counter[tuple[str, ...]] = Counter()
        with self._lock:
            replayed = set(self.replayed)
        for letter in letters:
            group = letter.group(reasons=True)
            total[group] += 1
            if letter.id not in replayed:
                waiting[group] += 1
        return [(group, n, waiting[group]) for group, n in total.most_common()]

    def was_replayed(self, letter_id: str) -> bool:
        with self._lock:
            return letter_id in self.replayed
