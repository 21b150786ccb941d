"""The server with its SMS edge open, and a fake SMS provider it sends through over HTTP.

`FakeProvider` is an aiohttp server standing in for Twilio's Messages API and for a generic
gateway: it records each request and answers what a test asks it to (a 21610, a 500).
`Phone` is one customer texting `/sms/twilio`, each request signed with the `twilio`
package's own RequestValidator over the public URL, as Twilio signs them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from twilio.request_validator import RequestValidator

from bot.app import Runtime, build_app, build_runtime
from bot.dialog import Services
from bot.domain import Domain
from bot.settings import Settings
from bot.state import ConversationState
from bot.store.client import RedisHandles
from connectors.sms.providers import sign
from tests.conftest import MovableClock, RecordingSms

PUBLIC_URL = "https://sw.example.test"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token"
GATEWAY_SECRET = "gateway-test-secret"
OUR_NUMBER = "+15005550006"
PHONE = "13800138000"
OTHER_PHONE = "13900139000"
Client = TestClient[Any, Any]


@dataclass
class Sent:
    """One message the server asked the provider to send."""

    to: str
    text: str
    headers: dict[str, str]
    raw: bytes


@dataclass
class FakeProvider:
    """Twilio's Messages API and a gateway's send endpoint, recording what they are sent."""

    sent: list[Sent] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def fail_next(self, status: int, body: dict[str, Any]) -> None:
        self.answers.append((status, body))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", self.twilio)
        app.router.add_post("/gateway/send", self.gateway)
        return app

    async def twilio(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = await request.post()
        assert form["From"] == OUR_NUMBER
        self.sent.append(Sent(str(form["To"]), str(form["Body"]), dict(request.headers), b""))
        return self._answer({"sid": f"SM{next(self._ids):032d}", "status": "queued"}, 201)

    async def gateway(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.headers.get("X-Signature") != sign(GATEWAY_SECRET, raw):
            return web.json_response({"error": "bad signature"}, status=401)
        body = json.loads(raw)
        self.sent.append(Sent(body["to"], body["text"], dict(request.headers), raw))
        return self._answer({"id": f"G{next(self._ids)}"}, 200)

    def _answer(self, ok: dict[str, Any], status: int) -> web.Response:
        if self.answers:
            status, ok = self.answers.pop(0)
        return web.json_response(ok, status=status)

    def texts_to(self, phone: str) -> list[str]:
        return [s.text for s in self.sent if s.to == f"+86{phone}"]


class Phone:
    """One customer's phone texting the server through Twilio's webhook."""

    def __init__(self, world: SmsWorld, number: str) -> None:
        self.world = world
        self.number = number
        self._sids = itertools.count(1)

    @property
    def chat(self) -> str:
        return self.world.domain.customers.id_for(self.number)

    @property
    def key(self) -> str:
        return f"sms:{self.chat}"

    def form(self, text: str, sid: str | None = None) -> dict[str, str]:
        # Twilio's ids are random hex; one built from the number would put it in keys.
        tag = hashlib.sha256(self.number.encode()).hexdigest()[:12]
        sid = sid or f"SM{tag}{next(self._sids):020d}"
        return {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"+86{self.number}",
            "To": OUR_NUMBER,
            "Body": text,
            "NumMedia": "0",
            "NumSegments": "1",
        }

    async def post(self, form: dict[str, str], signature: str | None = None) -> Any:
        url = f"{PUBLIC_URL}/sms/twilio"
        if signature is None:
            signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        return await self.world.client.post(
            "/sms/twilio", data=form, headers={"X-Twilio-Signature": signature}
        )

    async def send(self, text: str, sid: str | None = None) -> str:
        """Text the server; what it answers in TwiML ("" for nothing)."""
        response = await self.post(self.form(text, sid))
        assert response.status == 200, await response.text()
        assert response.content_type == "text/xml"
        messages = twiml_messages(await response.text())
        assert len(messages) <= 1
        return messages[0] if messages else ""

    async def state(self) -> ConversationState:
        raw, _seq = await self.world.runtime.store.load(self.key)
        assert raw is not None
        return ConversationState.from_json(raw)


def twiml_messages(xml: str) -> list[str]:
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return [message.text or "" for message in root.findall("Message")]


@dataclass
class SmsWorld:
    client: Client
    runtime: Runtime
    clock: MovableClock
    provider: FakeProvider
    codes: RecordingSms

    @property
    def domain(self) -> Domain:
        return self.runtime.domain

    def phone(self, number: str = PHONE) -> Phone:
        return Phone(self, number)

    async def drain(self) -> int:
        return await self.domain.outbox.drain("test")


def sms_settings(provider_url: str, kind: str = "twilio") -> Settings:
    if kind == "gateway":
        return Settings(
            sms_provider="gateway",
            sms_gateway_url=f"{provider_url}/gateway/send",
            sms_gateway_secret=GATEWAY_SECRET,
            sms_from=OUR_NUMBER,
        )
    return Settings(
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_url=provider_url,
        sms_from=OUR_NUMBER,
        public_url=PUBLIC_URL,
    )


@contextlib.asynccontextmanager
async def running_sms_world(
    services: Services, handles: RedisHandles, kind: str = "twilio"
) -> AsyncIterator[SmsWorld]:
    provider = FakeProvider()
    async with TestServer(provider.app()) as provider_server:
        settings = sms_settings(str(provider_server.make_url("")).rstrip("/"), kind)
        clock, codes = MovableClock(), RecordingSms()
        runtime = build_runtime(settings, services=services, redis=handles, clock=clock, sms=codes)
        app = build_app(runtime, background=False)
        async with TestClient(TestServer(app)) as client:
            yield SmsWorld(client, runtime, clock, provider, codes)
