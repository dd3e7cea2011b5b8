"""One registry finds connectors: the entry-point group ``lapor_hub.connectors``.

Built-in connectors are registered in lapor-hub's own pyproject.toml the same way a third-party
package registers its own, so there is one mechanism to learn.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from hub.errors import ConnectorNotFound
from hub.sdk.base import Connector

GROUP = "lapor_hub.connectors"


def available() -> dict[str, type[Connector]]:
    """Every installed connector class by name (loading each entry point)."""
    found: dict[str, type[Connector]] = {}
    for entry in entry_points(group=GROUP):
        cls = entry.load()
        found[cls.name] = cls
    return dict(sorted(found.items()))


def get_connector(name: str) -> type[Connector]:
    connectors = available()
    if name not in connectors:
        raise ConnectorNotFound(
            f"There is no connector named {name!r}; installed: {', '.join(connectors) or 'none'}.",
            fix="check the name, or install the package that provides it "
            f"(it registers under the {GROUP!r} entry-point group).",
        )
    return connectors[name]
