"""An SMS 1708 gateway, simulated: a phone "sends" an SMS to /kirim-sms-warga and the gateway
pushes it, signed, to the hub's webhook; replies the hub sends land in /keluar."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.simulator import AppState, with_faults
from hub.sdk.webhook import SIGNATURE_HEADER, sign


class SmsGateway:
    def __init__(self, webhook_url: str | None = None, secret: str = "") -> None:
        self.webhook_url = webhook_url
        self.secret = secret
        self.state = AppState()
        self.outbox: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self.app = with_faults(
            Starlette(
                routes=[
                    Route("/kirim-sms-warga", self._citizen_sends, methods=["POST"]),
                    Route("/kirim", self._hub_sends, methods=["POST"]),
                    Route("/keluar", self._outbox, methods=["GET"]),
                    Route("/balas", self._reply, methods=["POST"]),
                ]
            ),
            self.state,
        )

    def message(self, sender: str, text: str) -> dict[str, str]:
        return {
            "id": f"SMS-{next(self._ids):08d}",
            "dari": sender,
            "pesan": text,
            "diterima_pada": datetime.now(UTC).isoformat(),
            "operator": "Telkomsel",
        }

    def forward(self, messages: list[dict[str, str]]) -> httpx.Response:
        """Push messages to the hub's webhook, signed, as the real gateway does."""
        with self.state.lock:
            known = {m["id"] for m in self.state.reports}
        for message in messages:
            if isinstance(message, dict) and message.get("id") not in known:
                self.state.file(message)
        body = json.dumps(messages, ensure_ascii=False).encode()
        return httpx.post(
            self.webhook_url or "",
            content=body,
            timeout=10,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)},
        )

    async def _citizen_sends(self, request: Request) -> JSONResponse:
        data = await request.json()
        message = self.message(data["dari"], data["pesan"])
        self.state.file(message)
        async with httpx.AsyncClient() as client:
            body = json.dumps([message], ensure_ascii=False).encode()
            answer = await client.post(
                self.webhook_url or "",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(self.secret, body),
                },
            )
        return JSONResponse({"id": message["id"], "hub": answer.status_code})

    async def _hub_sends(self, request: Request) -> JSONResponse:
        data = await request.json()
        self.outbox.append({"ke": data["ke"], "pesan": data["pesan"]})
        return JSONResponse({"terkirim": True}, status_code=201)

    async def _outbox(self, _: Request) -> JSONResponse:
        return JSONResponse(self.outbox)

    async def _reply(self, request: Request) -> JSONResponse:
        """The hub answers a citizen's SMS by its id; the gateway knows the number."""
        key = request.headers.get("Idempotency-Key", "")
        data = await request.json()
        with self.state.lock:
            sender = next(
                (m["dari"] for m in self.state.reports if m["id"] == data["balasan_untuk"]), None
            )
        taken = self.state.take_feedback(key, data["balasan_untuk"], data)
        if taken is None or sender is None:
            return JSONResponse({"error": "pesan tidak dikenal"}, status_code=404)
        if taken:
            self.outbox.append({"ke": sender, "pesan": data["pesan"]})
        return JSONResponse({"terkirim": True}, status_code=201 if taken else 200)
