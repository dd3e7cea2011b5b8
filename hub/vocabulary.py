"""The canonical vocabulary, once: report kinds, channels and statuses.

They are the Avro enums' symbols (tests/unit/test_vocabulary.py keeps them equal); routing
rules may also name kinds in Indonesian.
"""

from __future__ import annotations

KINDS = frozenset({"COMPLAINT", "ASPIRATION", "INFORMATION_REQUEST", "WHISTLEBLOWING", "UNKNOWN"})
CHANNELS = frozenset(
    {"WEB", "MOBILE_APP", "SMS", "SOCIAL_MEDIA", "EMAIL", "WALK_IN", "API", "OPEN311", "OTHER"}
)
STATUSES = frozenset(
    {
        "RECEIVED",
        "VERIFIED",
        "FORWARDED",
        "IN_PROGRESS",
        "RESOLVED",
        "NOT_AUTHORITY",
        "ESCALATED",
        "POSTPONED",
        "CLOSED",
        "UNKNOWN",
    }
)
# the Indonesian names of the kinds, as LAPOR! calls them
KIND_NAMES = {
    "PENGADUAN": "COMPLAINT",
    "ASPIRASI": "ASPIRATION",
    "PERMINTAAN_INFORMASI": "INFORMATION_REQUEST",
    **{kind: kind for kind in KINDS},
}
