"""Ratings through the web chat: buttons from the resolved-case notice, comments, callbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.dialog import Services
from bot.settings import Settings
from bot.store.client import RedisHandles
from tests.flow_chat import CASE_NUMBER, PHONE, App, Chat, running_app
from tests.test_flow_complaint import complain


@pytest.fixture
async def app(settings: Settings, services: Services, handles: RedisHandles) -> AsyncIterator[App]:
    async with running_app(settings, services, handles) as running:
        yield running


async def resolve(app: App, number: str) -> None:
    for state in ("assigned", "in_progress", "resolved"):
        app.clock.advance(600)
        await app.domain.cases.move(number, state, actor="agent:7", note="")
    await app.domain.outbox.drain("test")


async def rating_buttons(chat: Chat, number: str) -> list[str]:
    """The rating buttons of the notice about `number` in the conversation's events feed."""
    events = await chat.events()
    return [
        button["payload"]
        for event in events
        for button in event["buttons"]
        if button["payload"].startswith(f"rate:{number}:")
    ]


async def resolved_complaint(app: App, locale: str = "en") -> tuple[Chat, str]:
    chat = app.chat(locale)
    description = "上个月莫名其妙扣了我五十元" if locale == "zh" else "A charge I never ordered."
    number = await complain(chat, "billing", description)
    await resolve(app, number)
    return chat, number


@pytest.mark.parametrize(("locale", "thanks"), [("zh", "4 分"), ("en", "4 out of 5")])
async def test_a_rating_of_4_from_the_notice_closes_the_case(
    app: App, locale: str, thanks: str
) -> None:
    chat, number = await resolved_complaint(app, locale)
    buttons = await rating_buttons(chat, number)
    assert buttons == [f"rate:{number}:{n}" for n in range(1, 6)]
    answer = await chat.press(f"rate:{number}:4", "★★★★")
    assert thanks in answer
    assert "rate:nocomment" in [b["payload"] for b in chat.buttons()]
    case = await app.domain.cases.get(number)
    assert case is not None and case.state == "closed" and case.rating == 4
    await chat.press("rate:nocomment")
    assert chat.text and not chat.buttons()[1:]


async def test_a_comment_is_kept_with_the_rating(app: App) -> None:
    chat, number = await resolved_complaint(app)
    await chat.press(f"rate:{number}:5")
    assert "noted" in await chat.say("Quick and friendly, thank you.")
    case = await app.domain.cases.get(number)
    assert case is not None and case.comment == "Quick and friendly, thank you."


@pytest.mark.parametrize(("locale", "words"), [("zh", "主管"), ("en", "supervisor")])
async def test_a_rating_of_2_opens_a_callback_and_closes_only_after_it(
    app: App, locale: str, words: str
) -> None:
    chat, number = await resolved_complaint(app, locale)
    answer = await chat.press(f"rate:{number}:2")
    callback_number = next(n for n in CASE_NUMBER.findall(answer) if n != number)
    assert words in answer and ("Nov 24, 2026" in answer or "11月24日" in answer)
    assert chat.card()["number"] == callback_number
    rated = await app.domain.cases.get(number)
    callback = await app.domain.cases.get(callback_number)
    assert rated is not None and callback is not None
    assert rated.state == "resolved" and rated.callback == callback_number
    assert callback.kind == "callback" and callback.parent == number
    for state in ("assigned", "in_progress"):
        await app.domain.cases.move(callback_number, state, actor="supervisor:1")
        rated = await app.domain.cases.get(number)
        assert rated is not None and rated.state == "resolved"
    await app.domain.cases.move(callback_number, "resolved", actor="supervisor:1")
    rated = await app.domain.cases.get(number)
    assert rated is not None and rated.state == "closed"


@pytest.mark.parametrize(("locale", "words"), [("zh", "已经评价过"), ("en", "already rated")])
async def test_a_second_rating_is_answered_politely(app: App, locale: str, words: str) -> None:
    chat, number = await resolved_complaint(app, locale)
    await chat.press(f"rate:{number}:5")
    assert words in await chat.press(f"rate:{number}:1")
    case = await app.domain.cases.get(number)
    assert case is not None and case.rating == 5


async def test_a_case_not_yet_resolved_cannot_be_rated(app: App) -> None:
    chat = app.chat("en")
    number = await complain(chat, "billing", "A charge I never ordered.")
    assert "cannot be rated yet" in await chat.press(f"rate:{number}:5")
    case = await app.domain.cases.get(number)
    assert case is not None and case.rating is None and case.state == "received"


async def test_someone_elses_case_cannot_be_rated(app: App) -> None:
    _chat, number = await resolved_complaint(app)
    stranger = app.chat("en")
    await stranger.say("hello")
    assert "cannot find" in await stranger.press(f"rate:{number}:1")
    case = await app.domain.cases.get(number)
    assert case is not None and case.rating is None


async def test_asking_to_rate_with_nothing_waiting_explains_when_ratings_come(app: App) -> None:
    chat = app.chat("en")
    answer = await chat.say("I want to rate the service")
    assert "once a case is resolved" in answer


async def test_a_verified_customer_rates_the_case_waiting_for_it_in_words(app: App) -> None:
    _chat, number = await resolved_complaint(app, "zh")
    chat = app.chat("zh")
    await chat.say("我的工单")
    await chat.say(PHONE)
    await chat.say(app.sms.last_code())
    answer = await chat.say("给5分")
    assert "5 分" in answer
    case = await app.domain.cases.get(number)
    assert case is not None and case.rating == 5 and case.state == "closed"


async def test_a_rating_by_number_is_asked_with_the_stars(app: App) -> None:
    chat, number = await resolved_complaint(app)
    await chat.say("I want to rate the service")
    answer = await chat.say(number)
    assert number in answer
    assert [b["payload"] for b in chat.buttons()] == [f"rate:{number}:{n}" for n in range(1, 6)]
    assert "4 out of 5" in await chat.say("4")


@pytest.mark.parametrize(("locale", "words"), [("zh", "不是很满意"), ("en", "not very satisfied")])
async def test_praise_said_with_a_negation_is_a_low_rating(
    app: App, locale: str, words: str
) -> None:
    chat, number = await resolved_complaint(app, locale)
    await chat.say("我要评价" if locale == "zh" else "I want to rate the service")
    await chat.say(number)
    await chat.say(words)
    case = await app.domain.cases.get(number)
    assert case is not None and case.rating == 2 and case.callback is not None
    assert case.state == "resolved"  # held open until the supervisor's callback is done


async def test_the_number_named_in_the_first_message_is_the_one_rated(app: App) -> None:
    chat, number = await resolved_complaint(app)
    assert "4 out of 5" in await chat.say(f"I want to rate {number} with 4 stars")
    case = await app.domain.cases.get(number)
    assert case is not None and case.rating == 4


@pytest.mark.parametrize("value", ["²", "6", "0", "", "4x"])
async def test_a_forged_rating_button_is_refused_politely(app: App, value: str) -> None:
    chat, number = await resolved_complaint(app)
    answer = await chat.press(f"rate:{number}:{value}")
    assert "no longer valid" in answer
    case = await app.domain.cases.get(number)
    assert case is not None and case.rating is None


async def test_a_rating_button_in_lower_case_still_rates(app: App) -> None:
    chat, number = await resolved_complaint(app)
    assert "4 out of 5" in await chat.press(f"rate:{number.lower()}:4")
    case = await app.domain.cases.get(number)
    assert case is not None and case.rating == 4
