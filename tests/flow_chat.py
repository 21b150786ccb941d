"""Talking to the assistant through the web chat API, for the service flows' tests.

`Chat` is one customer's conversation over HTTP; `Clock` moves time; `RecordingSms` keeps
the texts the verification flow sends, so a test can read the one-time code.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import Runtime, build_app, build_runtime
from bot.dialog import Services
from bot.domain import Domain
from bot.settings import Settings
from bot.store.client import RedisHandles
from tests.conftest import MovableClock as Clock
from tests.conftest import RecordingSms

PHONE = "13800138000"  # obviously fake, valid CN mobile
OTHER_PHONE = "13900139000"
CASE_NUMBER = re.compile(r"\bC\d{10,13}\b")


@dataclass
class App:
    """A running web chat and what the tests reach behind it."""

    client: TestClient[Any, Any]
    runtime: Runtime
    clock: Clock
    sms: RecordingSms

    @property
    def domain(self) -> Domain:
        return self.runtime.domain

    def chat(self, locale: str = "zh") -> Chat:
        return Chat(self.client, locale)


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings, services: Services, handles: RedisHandles
) -> AsyncIterator[App]:
    clock, sms = Clock(), RecordingSms()
    runtime = build_runtime(settings, services=services, redis=handles, clock=clock, sms=sms)
    # Notices are delivered by `drain` where a test needs them, so no background worker
    # races it on the clock the test moves.
    async with TestClient(TestServer(build_app(runtime, background=False))) as client:
        yield App(client, runtime, clock, sms)


class Chat:
    """One customer's conversation through `POST /api/chat/messages`."""

    def __init__(self, client: TestClient[Any, Any], locale: str) -> None:
        self.client = client
        self.locale = locale
        self.id: str | None = None
        self.replies: list[dict[str, Any]] = []

    @property
    def key(self) -> str:
        """The conversation key cases and notices use: "web:<id>"."""
        assert self.id is not None
        return f"web:{self.id}"

    @property
    def text(self) -> str:
        """Everything the last turn answered, as one text."""
        return "\n".join(reply["text"] for reply in self.replies)

    def buttons(self) -> list[dict[str, str]]:
        return [button for reply in self.replies for button in reply["buttons"]]

    def card(self) -> dict[str, Any]:
        cards = [reply["card"] for reply in self.replies if "card" in reply]
        assert cards, self.text
        return cards[-1]

    async def say(self, text: str) -> str:
        return await self._post({"text": text})

    async def press(self, payload: str, title: str = "") -> str:
        return await self._post({"text": title, "payload": payload})

    async def press_button(self, payload_prefix: str) -> str:
        """Press the button of the last answer whose payload starts with `payload_prefix`."""
        for button in self.buttons():
            if button["payload"].startswith(payload_prefix):
                return await self.press(button["payload"], button["title"])
        raise AssertionError(f"no button {payload_prefix!r} in {self.buttons()}")

    async def events(self, after: int = 0) -> list[dict[str, Any]]:
        response = await self.client.get(f"/api/chat/{self.id}/events?after={after}")
        assert response.status == 200, await response.text()
        events: list[dict[str, Any]] = (await response.json())["events"]
        return events

    async def _post(self, body: dict[str, Any]) -> str:
        if self.id is not None:
            body["conversation"] = self.id
        headers = {"Accept-Language": self.locale}
        response = await self.client.post("/api/chat/messages", json=body, headers=headers)
        assert response.status == 200, await response.text()
        data = await response.json()
        self.id = data["conversation"]
        self.replies = data["replies"]
        return self.text
