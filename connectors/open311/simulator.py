"""A city's Open311 GeoReport v2 endpoint, simulated, in JSON and XML."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.simulator import AppState, with_faults

SERVICES = [
    {"service_code": "jalan", "service_name": "Jalan rusak", "group": "Infrastruktur"},
    {"service_code": "sampah", "service_name": "Sampah", "group": "Kebersihan"},
    {"service_code": "drainase", "service_name": "Saluran air", "group": "Infrastruktur"},
    {"service_code": "lainnya", "service_name": "Lainnya", "group": "Umum"},
]


def _xml(root: str, item: str, rows: list[dict[str, Any]]) -> Response:
    def field(key: str, value: Any) -> str:
        if isinstance(value, dict):
            return f"<{key}>{''.join(field(k, v) for k, v in value.items())}</{key}>"
        return f"<{key}>{escape(str(value))}</{key}>" if value is not None else ""

    body = "".join(f"<{item}>{''.join(field(k, v) for k, v in r.items())}</{item}>" for r in rows)
    return Response(
        f'<?xml version="1.0" encoding="utf-8"?><{root}>{body}</{root}>',
        media_type="application/xml",
    )


class Open311App:
    def __init__(self) -> None:
        self.state = AppState()
        self._ids = itertools.count(1001)
        self.app = with_faults(
            Starlette(
                routes=[
                    Route("/services.{fmt}", self._services),
                    Route("/requests.{fmt}", self._requests, methods=["GET"]),
                    Route("/requests.{fmt}", self._create, methods=["POST"]),
                    Route("/servicerequestupdates.{fmt}", self._update, methods=["POST"]),
                ]
            ),
            self.state,
        )

    def _now(self) -> str:
        return datetime.now(UTC).isoformat()

    def citizen_files(self, **fields: Any) -> dict[str, Any]:
        request = {
            "service_request_id": str(next(self._ids)),
            "status": "open",
            "service_code": "jalan",
            "service_name": "Jalan rusak",
            "description": "Jalan berlubang",
            "requested_datetime": self._now(),
            "updated_datetime": self._now(),
            **fields,
        }
        return self.state.file(request)

    def city_updates(self, request_id: str, status: str, notes: str, external: str) -> None:
        with self.state.lock:
            for request in self.state.reports:
                if request["service_request_id"] == request_id:
                    request.update(status=status, status_notes=notes, updated_datetime=self._now())
                    request.setdefault("attributes", {})["external_status_code"] = external

    def _render(self, fmt: str, rows: list[dict[str, Any]], root: str, item: str) -> Response:
        if fmt == "xml":
            return _xml(root, item, rows)
        if fmt == "json":
            return JSONResponse(rows)
        return JSONResponse([{"code": 404, "description": f"format {fmt} unknown"}], 404)

    async def _services(self, request: Request) -> Response:
        return self._render(request.path_params["fmt"], SERVICES, "services", "service")

    async def _requests(self, request: Request) -> Response:
        after = request.query_params.get("updated_after") or ""
        with self.state.lock:
            rows = [dict(r) for r in self.state.reports if r["updated_datetime"] > after]
        rows.sort(key=lambda r: r["updated_datetime"])
        return self._render(request.path_params["fmt"], rows, "service_requests", "request")

    async def _create(self, request: Request) -> Response:
        fmt = request.path_params["fmt"]
        form = dict((await request.form()).items())
        if not form.get("service_code") or not form.get("description"):
            return self._render(
                fmt,
                [{"code": 400, "description": "service_code and description are required"}],
                "errors",
                "error",
            )
        key = request.headers.get("Idempotency-Key") or form.get("attribute[hub_id]", "")
        with self.state.lock:
            existing = self.state.arrive(key)
        if existing is None:
            attributes = {k[10:-1]: v for k, v in form.items() if k.startswith("attribute[")}
            created = self.citizen_files(
                service_code=form["service_code"],
                description=form["description"],
                address_string=form.get("address_string"),
                attributes=attributes,
                service_name=next(
                    (
                        s["service_name"]
                        for s in SERVICES
                        if s["service_code"] == form["service_code"]
                    ),
                    "Lainnya",
                ),
            )
            existing = created["service_request_id"]
            with self.state.lock:
                self.state.keep(key, existing, form)
        return self._render(fmt, [{"service_request_id": existing}], "service_requests", "request")

    async def _update(self, request: Request) -> Response:
        """A status the hub sends about one of the city's own requests."""
        fmt = request.path_params["fmt"]
        form = dict((await request.form()).items())
        missing = [f for f in ("service_request_id", "update_id", "status") if not form.get(f)]
        if missing:
            error = {"code": 400, "description": f"missing {', '.join(missing)}"}
            return self._render(fmt, [error], "errors", "error")
        taken = self.state.take_feedback(form["update_id"], form["service_request_id"], form)
        if taken is None:
            error = {"code": 404, "description": "no such service request"}
            response = self._render(fmt, [error], "errors", "error")
            response.status_code = 404
            return response
        return self._render(fmt, [{"update_id": form["update_id"]}], "updates", "update")
