"""Anger and abuse hand the customer to a person; ordinary words and flows are left alone."""

from __future__ import annotations

import pytest

from bot.app import build_runtime
from bot.dialog import Services
from bot.messages import Inbound
from bot.nlu.mood import Mood
from bot.settings import Settings
from bot.store.client import RedisHandles
from tests.conftest import MovableClock


@pytest.fixture(scope="module")
def mood(settings: Settings) -> Mood:
    return Mood.load(settings.locales_dir)


@pytest.mark.parametrize(
    "text",
    [
        "你们这什么垃圾网络",
        "骗子公司！！！",
        "ＳＨＩＴ service",  # full-width forms count
        "This is fucking useless",
        "I am fed up with you",
        "WHY IS MY INTERNET DOWN AGAIN",
    ],
)
def test_angry_or_abusive_words_are_noticed(mood: Mood, text: str) -> None:
    assert mood.angry(text)


@pytest.mark.parametrize(
    "text",
    ["宽带怎么办理", "我想投诉", "shitake mushrooms", "scampi", "5G PLAN", "Thank you!!!", ""],
)
def test_ordinary_words_are_not(mood: Mood, text: str) -> None:
    assert not mood.angry(text)


async def test_an_angry_customer_is_queued_for_a_person(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    runtime = build_runtime(settings, services=services, redis=handles, clock=clock)
    result = await runtime.engine.handle(Inbound("web", "m1", text="你们这什么垃圾网络，气死了"))
    assert result.mode == "queued"
    record = await runtime.desk.handoff.handoffs.get("web:m1")
    assert record is not None and record.reason == "anger"


async def test_a_complaint_description_with_strong_words_stays_in_its_flow(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    runtime = build_runtime(settings, services=services, redis=handles, clock=clock)
    engine = runtime.engine
    await engine.handle(Inbound("web", "m2", text="我要投诉"))
    await engine.handle(Inbound("web", "m2", payload="complain:cat:attitude"))
    result = await engine.handle(Inbound("web", "m2", text="营业员骂我是废物"))
    assert result.mode == "bot"
    assert await runtime.desk.handoff.handoffs.get("web:m2") is None
