"""A reporter's identity, hidden by default and opened only through the audited path: the
reveal is recorded in the audit trail before anything is opened."""

from __future__ import annotations

from typing import Any

from hub import audit
from hub.privacy import hub_keyring, open_identity, redact_identity


def hidden(report: dict[str, Any]) -> dict[str, Any]:
    return redact_identity(report)


def revealed(bootstrap: str, report: dict[str, Any], via: str) -> dict[str, Any]:
    """The report with its reporter's identity opened, the reveal recorded first."""
    audit.record(bootstrap, "identity.reveal", {"hub_id": report["hub_id"], "via": via})
    return open_identity(report, hub_keyring())
