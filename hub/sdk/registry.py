"""One registry finds connectors: the entry-point group ``lapor_hub.connectors``.

Built-in connectors are registered in lapor-hub's own pyproject.toml the same way a third-party
package registers its own, so there is one mechanism to learn.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from hub.errors import ConnectorNotFound
from hub.sdk.base import Connector

GROUP = "lapor_hub.connectors"
log = logging.getLogger(__name__)
_broken: dict[str, str] = {}  # entry-point name -> why it does not load
_told: set[str] = set()


def available() -> dict[str, type[Connector]]:
    """Every installed connector class by name (loading each entry point). A plugin that
    fails to load is left out and said once: one broken package must not stop the others."""
    found: dict[str, type[Connector]] = {}
    for entry in entry_points(group=GROUP):
        try:
            cls = entry.load()
        except Exception as error:  # any failure of a third-party import
            _broken[entry.name] = f"{type(error).__name__}: {error}"
            if entry.name not in _told:
                _told.add(entry.name)
                log.error(
                    "connector plugin %s (%s) does not load and is left out: %s",
                    entry.name,
                    entry.value,
                    _broken[entry.name],
                )
            continue
        found[cls.name] = cls
    return dict(sorted(found.items()))


def get_connector(name: str) -> type[Connector]:
    connectors = available()
    if name not in connectors:
        if name in _broken:
            raise ConnectorNotFound(
                f"The connector {name!r} is installed but does not load: {_broken[name]}.",
                fix="reinstall the package that provides it, or fix the import error above.",
            )
        raise ConnectorNotFound(
            f"There is no connector named {name!r}; installed: {', '.join(connectors) or 'none'}.",
            fix="check the name, or install the package that provides it "
            f"(it registers under the {GROUP!r} entry-point group).",
        )
    return connectors[name]
