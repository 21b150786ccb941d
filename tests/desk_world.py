"""The whole server on a clock the tests move, for the handoff and desk tests: customers talk
through the web chat API, agents through the desk API with a cookie and CSRF token of their
own, and nothing runs in the background (notices are drained and scheduled jobs fired by
hand). Registered as a pytest plugin (tests/conftest.py), so `world` and `either` are
fixtures everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientWebSocketResponse, DummyCookieJar, WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from bot.app import Runtime, build_app, build_runtime
from bot.dialog import Services
from bot.domain import Domain
from bot.handoff import DeskHandoff
from bot.services.agents import Agents, Sessions
from bot.services.desk_bus import DeskEvent, to_agent
from bot.services.handoff import HandoffRecord
from bot.settings import Settings
from bot.state import ConversationState
from bot.store import keys
from bot.store.client import RedisHandles, connect
from connectors.desk.auth import COOKIE, CSRF_HEADER
from tests.conftest import MovableClock, RecordingSms
from tests.flow_chat import CASE_NUMBER, PHONE, Chat

PASSWORD = "correct horse battery"
# Accounts are made with Agents.add as in production, with a cheap argon2 cost for speed.
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
Client = TestClient[Any, Any]


@dataclass
class AgentDesk:
    """One signed-in desk: its own session cookie and CSRF token (the client keeps none)."""

    client: Client
    name: str
    token: str
    csrf: str

    def headers(self, *, csrf: bool = True) -> dict[str, str]:
        headers = {"Cookie": f"{COOKIE}={self.token}"}
        if csrf:
            headers[CSRF_HEADER] = self.csrf
        return headers

    async def get(self, path: str) -> ClientResponse:
        return await self.client.get(path, headers=self.headers(csrf=False))

    async def post(
        self, path: str, body: object = None, *, csrf: bool = True, data: bytes | None = None
    ) -> ClientResponse:
        headers = self.headers(csrf=csrf)
        if data is not None:
            headers["Content-Type"] = "application/json"
            return await self.client.post(path, data=data, headers=headers)
        return await self.client.post(path, json=body or {}, headers=headers)

    async def ok(self, method: str, path: str, body: object = None) -> Any:
        """The JSON of a call that must succeed."""
        response = await (self.get(path) if method == "GET" else self.post(path, body))
        assert response.status == 200, await response.text()
        return await response.json()

    async def accept(self, conversation: str) -> Any:
        return await self.ok("POST", f"/desk/api/conversations/{conversation}/accept")

    async def socket(self) -> ClientWebSocketResponse:
        return await self.client.ws_connect("/desk/ws", headers=self.headers(csrf=False))


class Recorder:
    """Keeps every desk event of every process, for waiting on the one a test expects."""

    def __init__(self) -> None:
        self.events: list[DeskEvent] = []

    def __call__(self, event: DeskEvent) -> None:
        self.events.append(event)

    async def wait(self, predicate: Callable[[DeskEvent], bool], seconds: float = 5.0) -> DeskEvent:
        async with asyncio.timeout(seconds):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await asyncio.sleep(0.01)

    async def quiet(self, predicate: Callable[[DeskEvent], bool], seconds: float = 0.3) -> None:
        """No event like this arrives (within a pub/sub round trip's time)."""
        await asyncio.sleep(seconds)
        assert not [e for e in self.events if predicate(e)]


def alert(agent: str, level: str) -> Callable[[DeskEvent], bool]:
    return lambda e: e.kind == "alert" and e.to == to_agent(agent) and e.data["level"] == level


@dataclass
class World:
    """A running server and what tests reach behind it."""

    client: Client
    runtime: Runtime
    clock: MovableClock
    sms: RecordingSms
    agents: Agents
    bus_events: Recorder = field(default_factory=Recorder)

    @property
    def domain(self) -> Domain:
        return self.runtime.domain

    @property
    def handoff(self) -> DeskHandoff:
        return self.runtime.desk.handoff

    def chat(self, locale: str = "zh") -> Chat:
        return Chat(self.client, locale)

    async def add_agent(
        self, name: str, role: str = "agent", display: str | None = None, *, online: bool = True
    ) -> AgentDesk:
        await self.agents.add(name, PASSWORD, role, display=display)
        desk = await self.login(name)
        if online:
            await self.runtime.desk.presence.set(name, "online")
        return desk

    async def login(self, name: str) -> AgentDesk:
        response = await self.client.post(
            "/desk/api/login", json={"name": name, "password": PASSWORD}
        )
        assert response.status == 200, await response.text()
        csrf = (await response.json())["csrf"]
        return AgentDesk(self.client, name, response.cookies[COOKIE].value, csrf)

    async def state(self, chat: Chat) -> ConversationState:
        raw, _seq = await self.runtime.store.load(chat.key)
        assert raw is not None
        return ConversationState.from_json(raw)

    async def record(self, chat: Chat) -> HandoffRecord:
        record = await self.handoff.handoffs.get(chat.key)
        assert record is not None
        return record

    async def queue_up(self, chat: Chat, words: str = "转人工") -> str:
        """The customer asks for a person; the case number the reply names. (A second
        passes first: the queue is in order of asking, and the test clock stands still.)"""
        self.clock.advance(1)
        answer = await chat.say(words)
        assert (await self.state(chat)).mode == "queued", answer
        return CASE_NUMBER.findall(answer)[0]

    async def why_ended(self, chat: Chat) -> str | None:
        why: str | None = await self.runtime.redis.commands.hget(keys.handoff(chat.key), "why")
        return why

    async def fire_due(self) -> int:
        return await self.domain.scheduler.fire_due()

    async def archive(self, number: str) -> list[tuple[str, str]]:
        """The case's archive as (actor, note)."""
        return [(e.actor, e.note) for e in await self.domain.cases.events(number)]


async def texts_of(chat: Chat, after: int = 0) -> list[tuple[str, str]]:
    """The customer's events feed as (role, text)."""
    return [(e["role"], e["text"]) for e in await chat.events(after)]


async def last_seq(chat: Chat) -> int:
    events = await chat.events()
    return int(events[-1]["seq"]) if events else 0


@contextlib.asynccontextmanager
async def running_world(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> AsyncIterator[World]:
    sms = RecordingSms()
    runtime = build_runtime(settings, services=services, redis=handles, clock=clock, sms=sms)
    agents = Agents(handles.commands, clock, hasher=CHEAP)
    runtime.desk.agents = agents
    runtime.desk.sessions = Sessions(handles.commands, agents, clock)
    app = build_app(runtime, background=False)
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
        world = World(client, runtime, clock, sms, agents)
        with runtime.desk.bus.listen(world.bus_events):
            yield world


@pytest.fixture
async def world(
    settings: Settings, services: Services, real_redis: str, clock: MovableClock
) -> AsyncIterator[World]:
    """The server on a real Redis."""
    handles = connect(real_redis)
    async with running_world(settings, services, handles, clock) as running:
        yield running


@pytest.fixture
async def either(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> AsyncIterator[World]:
    """The server on the embedded store and on a real Redis."""
    async with running_world(settings, services, handles, clock) as running:
        yield running


async def verify(world: World, chat: Chat, phone: str = PHONE) -> None:
    """Verify the web chat customer as the owner of `phone` (one-time code by SMS)."""
    await chat.say("my cases" if chat.locale == "en" else "我的工单")
    await chat.say(phone)
    answer = await chat.say(world.sms.last_code(phone))
    assert "verified" in answer or "验证成功" in answer, answer
    assert (await world.state(chat)).customer is not None


async def receive_until(
    ws: ClientWebSocketResponse, predicate: Callable[[dict[str, Any]], bool], seconds: float = 5
) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        while True:
            message = await ws.receive()
            assert message.type == WSMsgType.TEXT, message
            data: dict[str, Any] = message.json()
            if predicate(data):
                return data
