"""A LAPOR!-style national complaint app, simulated: citizens file reports, the hub pulls
them, delivers routed reports into it, and reads follow-ups back."""

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


class LaporJsonApp:
    def __init__(self) -> None:
        self.state = AppState()
        self.refuse_words: set[str] = set()  # the app's own validation refuses these (422)
        self._ids = itertools.count(1)
        self.app = with_faults(
            Starlette(
                routes=[
                    Route("/api/v1/laporan", self._list, methods=["GET"]),
                    Route("/api/v1/laporan", self._create, methods=["POST"]),
                    Route("/api/v1/status", self._statuses, methods=["GET"]),
                    Route(
                        "/api/v1/laporan/{tracking_id}/tanggapan", self._feedback, methods=["POST"]
                    ),
                ]
            ),
            self.state,
        )

    # -- what citizens and officers do in the app ----------------------------------------

    def citizen_files(self, **fields: Any) -> dict[str, Any]:
        number = next(self._ids)
        report = {
            "tracking_id": f"LPR-2026-{number:06d}",
            "jenis": "pengaduan",
            "judul": "Laporan warga",
            "isi": "Isi laporan",
            "sumber": "web",
            "dibuat_pada": datetime.now(UTC).isoformat(),
            **fields,
        }
        return self.state.file(report)

    def officer_updates(
        self, hub_id: str, status: str, message: str = "", agency: str | None = None
    ) -> None:
        """An officer of ``agency`` (by default: the first the report was delivered for)
        changes its status."""
        with self.state.lock:
            if agency is None:
                keys = [k for k in self.state.idempotency if k.startswith(f"{hub_id}:")]
                agency = keys[0].split(":")[1] if keys else None
            self.state.statuses.append(
                {
                    "id": f"TL-{len(self.state.statuses) + 1}",
                    "referensi_hub": hub_id,
                    "instansi": agency,
                    "status": status,
                    "pesan": message,
                    "petugas": "admin.instansi",
                    "waktu": datetime.now(UTC).isoformat(),
                }
            )

    # -- its API -------------------------------------------------------------------------

    @staticmethod
    def _page(items: list[dict[str, Any]], request: Request) -> JSONResponse:
        after = int(request.query_params.get("setelah") or 0)
        limit = int(request.query_params.get("batas") or 100)
        chunk = items[after : after + limit]
        return JSONResponse({"data": chunk, "kursor_berikut": str(after + len(chunk))})

    async def _list(self, request: Request) -> JSONResponse:
        with self.state.lock:
            reports = list(self.state.reports)
        return self._page(reports, request)

    async def _statuses(self, request: Request) -> JSONResponse:
        with self.state.lock:
            statuses = list(self.state.statuses)
        return self._page(statuses, request)

    @staticmethod
    async def _keyed_json(request: Request) -> tuple[str, dict[str, Any]] | JSONResponse:
        """The Idempotency-Key and the JSON body of a POST, or the app's 400."""
        key = request.headers.get("Idempotency-Key")
        if not key:
            return JSONResponse({"error": "Idempotency-Key wajib"}, status_code=400)
        try:
            return key, json.loads(await request.body())
        except json.JSONDecodeError:
            return JSONResponse({"error": "JSON tidak valid"}, status_code=400)

    async def _create(self, request: Request) -> JSONResponse:
        posted = await self._keyed_json(request)
        if isinstance(posted, JSONResponse):
            return posted
        key, document = posted
        if not document.get("isi"):
            return JSONResponse({"error": "isi wajib diisi"}, status_code=422)
        if any(word in document["isi"] for word in self.refuse_words):
            return JSONResponse({"error": "isi ditolak oleh validasi aplikasi"}, status_code=422)
        tracking, created = self.state.remember(key, document, "INS-")
        if not created:
            return JSONResponse({"tracking_id": tracking}, status_code=200)
        self.officer_updates(document["referensi_hub"], "baru", agency=key.split(":")[1])
        return JSONResponse({"tracking_id": tracking}, status_code=201)

    async def _feedback(self, request: Request) -> JSONResponse:
        """A follow-up for one of the app's own reports, shown to the citizen who filed it."""
        posted = await self._keyed_json(request)
        if isinstance(posted, JSONResponse):
            return posted
        key, document = posted
        taken = self.state.take_feedback(key, request.path_params["tracking_id"], document)
        if taken is None:
            return JSONResponse({"error": "laporan tidak ditemukan"}, status_code=404)
        return JSONResponse({"diterima": True}, status_code=201 if taken else 200)
