"""A legacy app that can only export CSV: it serves its exports at /ekspor/<name>.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.csv_export import COLUMNS
from connectors.simulator import AppState, with_faults


class CsvExportApp:
    def __init__(self) -> None:
        self.state = AppState()
        self.files: dict[str, bytes] = {}
        self.app = with_faults(
            Starlette(
                routes=[
                    Route("/ekspor", self._list),
                    Route("/ekspor/{name}", self._file),
                ]
            ),
            self.state,
        )

    def export(self, name: str, rows: list[dict[str, Any]], extra_columns: list[str] = ()) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*COLUMNS, *extra_columns], lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            self.state.file(dict(row))
        self.files[name] = out.getvalue().encode()
        return self.files[name]

    async def _list(self, _: Request) -> JSONResponse:
        return JSONResponse(sorted(self.files))

    async def _file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.files:
            return JSONResponse({"error": "tidak ada"}, status_code=404)
        return Response(self.files[name], media_type="text/csv; charset=utf-8")

    def import_statuses(self, path: Path) -> int:
        """What the app does with the hub's status file: takes each row once."""
        if not path.exists():
            return 0
        with path.open(newline="", encoding="utf-8") as rows:
            return sum(
                bool(self.state.take_feedback(r["id_pembaruan"], r["no_laporan"], r))
                for r in csv.DictReader(rows)
            )
