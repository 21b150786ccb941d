"""The issue's whole journey through the real edges at once: a customer starts on Telegram,
gets updates by SMS once Telegram cannot reach them, and continues in web chat as one person
with one case history. One server with the Telegram edge (a recording Bot session), the SMS
edge (Twilio-signed webhooks, a fake Twilio-compatible API over HTTP) and the web chat.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app, build_runtime
from bot.dialog import Services
from bot.store.client import RedisHandles
from connectors.telegram.edge import install
from tests.conftest import MovableClock, RecordingSms
from tests.flow_chat import CASE_NUMBER, Chat
from tests.sms_world import PHONE, FakeProvider, SmsWorld, sms_settings
from tests.telegram_world import TOKEN, PaceClock, RecordingSession, TelegramWorld, plain


@dataclass
class Journey:
    telegram: TelegramWorld
    sms: SmsWorld
    web: Chat

    async def drain(self) -> int:
        return await self.sms.drain()


@contextlib.asynccontextmanager
async def one_server(services: Services, handles: RedisHandles) -> AsyncIterator[Journey]:
    provider = FakeProvider()
    async with TestServer(provider.app()) as provider_server:
        settings = sms_settings(str(provider_server.make_url("")).rstrip("/"))
        clock, codes, pace = MovableClock(), RecordingSms(), PaceClock()
        runtime = build_runtime(settings, services=services, redis=handles, clock=clock, sms=codes)
        app = build_app(runtime, background=False)
        session = RecordingSession()
        session.clock = pace
        edge = install(
            app, runtime.edge_parts(), Bot(TOKEN, session=session), clock=pace, sleep=pace.sleep
        )
        async with TestClient(TestServer(app)) as client:
            yield Journey(
                TelegramWorld(client, runtime, edge, session, clock, pace, codes),
                SmsWorld(client, runtime, clock, provider, codes),
                Chat(client, "en"),
            )


@pytest.fixture
async def journey(services: Services, handles: RedisHandles) -> AsyncIterator[Journey]:
    """On the embedded store and on a real Redis."""
    async with one_server(services, handles) as running:
        yield running


async def test_telegram_then_sms_then_web_chat_is_one_customer_with_one_case(
    journey: Journey,
) -> None:
    tg, sms, web = journey.telegram, journey.sms, journey.web
    cases = tg.runtime.domain.cases
    # 1. On Telegram: the customer shares their own contact and files a complaint.
    customer = tg.customer()
    await customer.say("my cases")
    assert "is verified" in await customer.share_contact("8613800138000")
    await customer.say("I want to file a complaint")
    await customer.press("complain:cat:billing")
    number = CASE_NUMBER.findall(await customer.say("I was charged 50 yuan I never agreed."))[0]
    # 2. They block the bot: the next update about the case comes by SMS instead.
    tg.session.fail_next(lambda m: TelegramForbiddenError(m, "Forbidden: bot was blocked"))
    await cases.move(number, "assigned", actor="agent:wang")
    assert await journey.drain() == 1
    [update] = sms.provider.texts_to(PHONE)
    assert number in update
    # 3. By SMS, the sender's number is the customer: the case is theirs there too.
    answer = await sms.phone().send(f"CX {number}")
    assert number in answer
    # 4. In web chat, after a one-time code, "my cases" lists the same case.
    await web.say("my cases")
    await web.say(PHONE)
    listed = await web.say(tg.sms.last_code(PHONE))
    assert "verified" in listed and number in listed
    customers = tg.runtime.domain.customers
    customer_id = customers.id_for(PHONE)
    assert (await tg.state()).customer == customer_id
    assert (await sms.phone().state()).customer == customer_id
    linked = await customers.conversations(customer_id)
    assert set(linked) == {f"telegram:{customer.id}", sms.phone().key, web.key}
    # 5. The resolution reaches them where they last wrote, the web chat, and no one else.
    since = len(tg.session.calls)
    await cases.move(number, "in_progress", actor="agent:wang")
    await cases.move(number, "resolved", actor="agent:wang")
    await journey.drain()
    assert plain(tg.session.sent(since)) == ""
    assert sms.provider.texts_to(PHONE) == [update]  # (answers to SMS go back as TwiML)
    events = [e["text"] for e in await web.events()]
    assert any(f"{number} has been resolved" in text for text in events)
