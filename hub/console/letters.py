"""Dead letters as the console shows them: every letter of every ``lapor.dlq.<stage>``
topic and every replay of ``lapor.replays``, followed into memory (hub.console.follow).

Dead letters are few next to reports (each one is a fault an operator should look at), so
they are kept in memory, each cut to its first KEPT_BYTES (a refused input may be MiBs):
grouping and filtering cost no topic read; opening or replaying a letter that was cut
reads it whole from its topic first (``whole``).
Replays go through hub.ops.deadletters, the CLI's own path (rate, checked targets, the
record in lapor.replays and the audit trail).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace

from confluent_kafka import Message

from hub.errors import HubError
from hub.ops.deadletters import Filter, read_letter
from hub.privacy import mask_contacts
from hub.records import Letter

KEPT_BYTES = 16 * 1024


class LettersView:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.letters: dict[str, Letter] = {}
        self.replayed: set[str] = set()
        self.cut: set[str] = set()  # letters kept without all their bytes

    def take_letter(self, msg: Message) -> None:
        letter = Letter.from_message(msg)
        if len(letter.value) > KEPT_BYTES:
            kept = letter.record._replace(value=letter.value[:KEPT_BYTES])
            letter = replace(letter, record=kept)
            cut = True
        else:
            cut = False
        with self._lock:
            self.letters[letter.id] = letter
            if cut:
                self.cut.add(letter.id)

    def whole(self, bootstrap: str, letter: Letter) -> Letter:
        """The letter with all its bytes (read again from its topic if it was cut)."""
        with self._lock:
            cut = letter.id in self.cut
        if not cut:
            return letter
        found = read_letter(bootstrap, letter.id)
        if found is None:
            raise HubError(
                f"dead letter {letter.id} could not be read back whole",
                fix="check the broker, then try again (`lapor-hub dlq show ID` reads it too).",
            )
        return found

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
        replay (not replayed yet), the largest groups first. A reason quotes what an app
        answered or a citizen wrote: contacts in it are masked (hub.privacy.mask_contacts)."""
        total: Counter[tuple[str, ...]] = Counter()
        waiting: Counter[tuple[str, ...]] = Counter()
        with self._lock:
            replayed = set(self.replayed)
        for letter in letters:
            stage, connector, error_class, reason = letter.group(reasons=True)
            group = (stage, connector, error_class, mask_contacts(reason))
            total[group] += 1
            if letter.id not in replayed:
                waiting[group] += 1
        return [(group, n, waiting[group]) for group, n in total.most_common()]

    def was_replayed(self, letter_id: str) -> bool:
        with self._lock:
            return letter_id in self.replayed
