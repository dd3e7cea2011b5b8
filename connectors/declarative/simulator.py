"""A dinas app with its own plain JSON API, the kind the declarative connector maps."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.simulator import AppState, with_faults


class DinasJsonApp:
    def __init__(self) -> None:
        self.state = AppState()
        self._ids = itertools.count(1)
        self.app = with_faults(
            Starlette(
                routes=[
                    Route("/api/aduan", self._list),
                    Route("/api/inbox", self._inbox, methods=["POST"]),
                    Route("/api/aduan/{id}/status", self._status, methods=["POST"]),
                ]
            ),
            self.state,
        )

    def citizen_files(self, **fields: Any) -> dict[str, Any]:
        item = {
            "id": f"D-{next(self._ids)}",
            "type": "keluhan",
            "subject": "Aduan",
            "message": "Isi aduan",
            "created_at": datetime.now(UTC).isoformat(),
            **fields,
        }
        return self.state.file(item)

    async def _list(self, request: Request) -> JSONResponse:
        after = int(request.query_params.get("since") or 0)
        with self.state.lock:
            items = self.state.reports[after : after + 50]
        return JSONResponse({"data": items, "meta": {"next": after + len(items)}})

    async def _inbox(self, request: Request) -> JSONResponse:
        key = request.headers.get("Idempotency-Key", "")
        document = json.loads(await request.body())
        ticket, _ = self.state.remember(key, document, "T-")
        return JSONResponse({"ticket": ticket}, status_code=201)

    async def _status(self, request: Request) -> JSONResponse:
        key = request.headers.get("Idempotency-Key", "")
        document = json.loads(await request.body())
        taken = self.state.take_feedback(key, request.path_params["id"], document)
        if taken is None:
            return JSONResponse({"error": "no such complaint"}, status_code=404)
        return JSONResponse({"ok": True}, status_code=201 if taken else 200)
