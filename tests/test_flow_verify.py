"""Phone verification in the web chat: code by SMS, wrong codes, expiry, resend, lock-out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.dialog import Services
from bot.settings import Settings
from bot.store.client import RedisHandles
from tests.flow_chat import CASE_NUMBER, PHONE, App, Chat, running_app


@pytest.fixture
async def app(settings: Settings, services: Services, handles: RedisHandles) -> AsyncIterator[App]:
    async with running_app(settings, services, handles) as running:
        yield running


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def ask_for_code(chat: Chat) -> None:
    """Start "my cases" (it calls verification) and give the phone."""
    await chat.say("我的工单" if chat.locale == "zh" else "my cases")
    assert "SMS" in chat.text or "短信" in chat.text, chat.text
    answer = await chat.say(PHONE)
    assert "138****8000" in answer and "13800138000" not in answer


@pytest.mark.parametrize(("locale", "left"), [("zh", "还可以尝试 4 次"), ("en", "4 attempts left")])
async def test_a_wrong_code_says_how_many_attempts_are_left(
    app: App, locale: str, left: str
) -> None:
    chat = app.chat(locale)
    await ask_for_code(chat)
    assert left in await chat.say(wrong(app.sms.last_code()))
    answer = await chat.say(app.sms.last_code())
    assert "138****8000" in answer and ("verified" in answer or "验证成功" in answer)


async def test_a_code_that_is_not_six_digits_is_asked_again(app: App) -> None:
    chat = app.chat("en")
    await ask_for_code(chat)
    assert "6 digits" in await chat.say("12345")


async def test_five_wrong_codes_lock_the_number_for_15_minutes(app: App) -> None:
    chat = app.chat("en")
    await ask_for_code(chat)
    code = app.sms.last_code()
    for _attempt in range(4):
        await chat.say(wrong(code))
    answer = await chat.say(wrong(code))
    assert "locked for 15 minutes" in answer
    # The flow that asked goes on without a verified phone: by number only.
    assert "by its number" in answer
    # Even the right code, in a new attempt, is refused while the lock lasts.
    await chat.say("my cases")
    assert "locked for" in await chat.say(PHONE)
    app.clock.advance(16 * 60)
    await chat.say("my cases")
    assert "sent a code" in await chat.say(PHONE)


async def test_an_expired_code_offers_a_new_one(app: App) -> None:
    chat = app.chat("en")
    await ask_for_code(chat)
    code = app.sms.last_code()
    app.clock.advance(6 * 60)
    assert "expired" in await chat.say(code)
    await chat.press_button("verify:resend")
    assert "sent a code" in chat.text
    new_code = app.sms.last_code()
    assert "verified" in await chat.say(new_code)


async def test_a_new_code_too_soon_says_how_long_to_wait(app: App) -> None:
    chat = app.chat("en")
    await ask_for_code(chat)
    app.clock.advance(20)
    answer = await chat.press("verify:resend")
    assert "wait 40 seconds" in answer
    assert len(app.sms.sent) == 1


@pytest.mark.parametrize(("locale", "reason"), [("zh", "字母"), ("en", "letters")])
async def test_a_phone_with_letters_is_asked_again(app: App, locale: str, reason: str) -> None:
    chat = app.chat(locale)
    await chat.say("我的工单" if locale == "zh" else "my cases")
    assert reason in await chat.say("我的号码138OO138OOO" if locale == "zh" else "138OO138OOO")
    assert not app.sms.sent


async def test_a_verified_customer_is_not_asked_for_a_phone_again(app: App) -> None:
    chat = app.chat("en")
    await ask_for_code(chat)
    await chat.say(app.sms.last_code())
    await chat.say("I want to file a complaint")
    await chat.press("complain:cat:billing")
    answer = await chat.say("They charged me for a service I never ordered.")
    number = CASE_NUMBER.search(answer)
    assert number is not None, answer  # no phone question in between
    case = await app.domain.cases.get(number.group())
    assert case is not None and case.contact == PHONE
    assert case.customer == app.domain.customers.id_for(PHONE)


async def test_cancel_during_verification_drops_the_flow_that_asked(app: App) -> None:
    chat = app.chat("en")
    await ask_for_code(chat)
    assert "Cancelled" in await chat.say("cancel")
    assert "cmd:resume" not in [b["payload"] for b in chat.buttons()]


async def test_a_code_the_provider_could_not_send_is_a_polite_answer(app: App) -> None:
    async def down(phone: str, text: str) -> None:
        raise ConnectionError("provider down")

    app.sms.send = down  # type: ignore[method-assign]
    chat = app.chat("en")
    await chat.say("my cases")
    answer = await chat.say(PHONE)
    assert "could not send the code" in answer
    assert (await app.runtime.store.load(chat.key))[0] is not None  # no 500, state kept
