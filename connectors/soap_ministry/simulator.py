"""A legacy ministry SOAP service, simulated."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.simulator import AppState, with_faults
from connectors.soap_ministry import envelope, fields_of, records
from hub.errors import BadInput
from hub.sdk import parse_xml


def _xml(tag: str, data: dict[str, Any]) -> str:
    return (
        f"<{tag}>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in data.items()) + f"</{tag}>"
    )


class SoapMinistryApp:
    def __init__(self) -> None:
        self.state = AppState()
        self._seq = itertools.count(1)
        self.app = with_faults(
            Starlette(routes=[Route("/soap", self._soap, methods=["POST"])]), self.state
        )

    def citizen_files(self, **fields: Any) -> dict[str, Any]:
        seq = next(self._seq)
        record = {
            "Urutan": seq,
            "NomorAgenda": f"AG/{seq:05d}/XI/2026",
            "Jenis": "PENGADUAN",
            "Perihal": "Pengaduan",
            "Uraian": "Uraian pengaduan",
            "TanggalSurat": datetime.now(UTC).isoformat(),
            **fields,
        }
        return self.state.file(record)

    def official_updates(self, hub_id: str, status: str, note: str = "") -> None:
        with self.state.lock:
            self.state.statuses.append(
                {
                    "Urutan": len(self.state.statuses) + 1,
                    "ReferensiHub": hub_id,
                    "Status": status,
                    "Keterangan": note,
                    "Pejabat": "Kabag Pengaduan",
                    "Waktu": datetime.now(UTC).isoformat(),
                }
            )

    async def _soap(self, request: Request) -> Response:
        action = request.headers.get("SOAPAction", "").strip('"')
        try:
            document = parse_xml(await request.body())
        except BadInput as refused:
            return self._fault(refused.reason, 400)
        if action in ("AmbilPengaduan", "AmbilStatus"):
            after = int((records(document, "Setelah") or [None])[0].text or 0)
            source, tag = (
                (self.state.reports, "Pengaduan")
                if action == "AmbilPengaduan"
                else (self.state.statuses, "StatusPengaduan")
            )
            with self.state.lock:
                rows = [r for r in source if int(r["Urutan"]) > after]
            return self._ok(action, "".join(_xml(tag, r) for r in rows))
        if action == "KirimPengaduan":
            data = fields_of(records(document, "Pengaduan")[0])
            if not data.get("Uraian"):
                return self._fault("Uraian wajib diisi", 500)
            with self.state.lock:  # the hub's reference is the key: no header here
                number = self.state.arrive(data["ReferensiHub"])
                if number is None:
                    number = f"KM/{len(self.state.delivered) + 1:05d}/2026"
                    self.state.keep(data["ReferensiHub"], number, data)
            return self._ok(action, f"<NomorAgenda>{number}</NomorAgenda>")
        if action == "KirimStatus":
            data = fields_of(records(document, "StatusPengaduan")[0])
            taken = self.state.take_feedback(data["IdPembaruan"], data["NomorAgenda"], data)
            if taken is None:
                return self._fault(f"NomorAgenda {data['NomorAgenda']} tidak dikenal", 400)
            return self._ok(action, "<Diterima>true</Diterima>")
        return self._fault(f"unknown SOAPAction {action!r}", 500)

    @staticmethod
    def _ok(action: str, body: str) -> Response:
        return Response(envelope(f"{action}Response", body), media_type="text/xml")

    @staticmethod
    def _fault(message: str, status: int) -> Response:
        body = (
            "<Fault><faultcode>soap:Client</faultcode>"
            f"<faultstring>{escape(message)}</faultstring></Fault>"
        )
        return Response(envelope("Fault", body), status_code=status, media_type="text/xml")
