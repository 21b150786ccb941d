"""The progress flow through the web chat: by number, typos, other people's numbers, my cases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from bot.dialog import Services
from bot.services.appointments import AppointmentDraft
from bot.services.numbers import make_number
from bot.settings import Settings
from bot.store.client import RedisHandles
from tests.flow_chat import OTHER_PHONE, PHONE, App, Chat, running_app
from tests.test_flow_complaint import complain


@pytest.fixture
async def app(settings: Settings, services: Services, handles: RedisHandles) -> AsyncIterator[App]:
    async with running_app(settings, services, handles) as running:
        yield running


def billing(locale: str) -> str:
    """A billing complaint without escalating words: complex, 72 hours."""
    if locale == "zh":
        return "上个月莫名其妙扣了我五十元"
    return "They charged me for a service I never ordered."


def mistyped(number: str) -> str:
    """The number with one digit changed: the check digit no longer fits."""
    digit = number[5]
    return number[:5] + ("1" if digit != "1" else "2") + number[6:]


async def verify(app: App, chat: Chat, phone: str = PHONE) -> None:
    """Answer the verification flow's questions with the code from the SMS."""
    assert "mobile" in chat.text or "手机号" in chat.text, chat.text
    await chat.say(phone)
    await chat.say(app.sms.last_code(phone))


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_a_case_by_its_own_number_shows_state_update_and_due(app: App, locale: str) -> None:
    chat = app.chat(locale)
    number = await complain(chat, "billing", billing(locale))
    app.clock.advance(3600)
    await app.domain.cases.move(number, "assigned", actor="agent:7", note="")
    answer = await chat.say(f"{number} 进度" if locale == "zh" else f"case {number} status")
    card = chat.card()
    assert card["number"] == number and card["due"]
    if locale == "zh":
        assert "已派单" in answer and "最近更新" in answer and "11月26日" in answer
        assert card["status"] == "已派单"
    else:
        assert "assigned" in answer and "Last update: Nov 23, 2026, 11:00" in answer, answer
        assert "Due by Nov 26, 2026" in answer and card["status"] == "assigned"


@pytest.mark.parametrize(("locale", "words"), [("zh", "输错"), ("en", "mistyped")])
async def test_a_mistyped_number_is_answered_as_a_typo_not_as_unknown(
    app: App, locale: str, words: str
) -> None:
    chat = app.chat(locale)
    number = await complain(chat, "billing", billing(locale))
    answer = await chat.say(f"查询工单{mistyped(number)}" if locale == "zh" else mistyped(number))
    assert words in answer and mistyped(number) in answer
    # A well-formed number nobody was given reads differently: not found.
    unknown = make_number("C", date(2026, 11, 23), 999)
    answer = await chat.say(unknown)
    assert words not in answer and unknown in answer


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_someone_elses_number_is_refused_exactly_like_an_unknown_one(
    app: App, locale: str
) -> None:
    owner = app.chat(locale)
    number = await complain(owner, "billing", billing(locale))
    unknown = make_number("C", date(2026, 11, 23), 998)
    stranger = app.chat(locale)
    await stranger.say("查进度" if locale == "zh" else "check case progress")
    await stranger.say(number)
    theirs = (stranger.text.replace(number, "<n>"), stranger.buttons())
    assert "card" not in stranger.replies[0]
    await stranger.say(unknown)
    never = (stranger.text.replace(unknown, "<n>"), stranger.buttons())
    assert theirs[0] == never[0]
    assert [b["title"] for b in theirs[1]] == [b["title"] for b in never[1]]
    # ...and verification is offered.
    assert f"progress:verify:{number}" in [b["payload"] for b in theirs[1]]


async def test_verifying_shows_a_case_of_ones_own_from_another_conversation(app: App) -> None:
    number = await complain(app.chat("en"), "network", "No signal at home since Monday.")
    later = app.chat("en")
    await later.say(f"case {number} status")
    assert "found nothing" in later.text
    await later.press(f"progress:verify:{number}")
    await verify(app, later)
    assert later.card()["number"] == number and "received" in later.text


async def test_verifying_with_another_phone_still_does_not_show_it(app: App) -> None:
    number = await complain(app.chat("en"), "network", "No signal at home since Monday.")
    stranger = app.chat("en")
    await stranger.say(f"case {number} status")
    await stranger.press(f"progress:verify:{number}")
    await verify(app, stranger, OTHER_PHONE)
    assert "found nothing" in stranger.text and "card" not in stranger.replies[-1]


@pytest.mark.parametrize(("locale", "ask"), [("zh", "我的工单"), ("en", "my cases")])
async def test_my_cases_needs_a_verified_phone(app: App, locale: str, ask: str) -> None:
    first = await complain(app.chat(locale), "network", billing(locale))
    app.clock.advance(60)
    second = await complain(app.chat(locale), "billing", billing(locale))
    await complain(app.chat(locale), "billing", billing(locale), OTHER_PHONE)
    chat = app.chat(locale)
    await chat.say(ask)
    assert not [r for r in chat.replies if "card" in r]  # nothing shown before verification
    await verify(app, chat)
    shown = [r["card"]["number"] for r in chat.replies if "card" in r]
    assert shown == [second, first]  # newest first, and only this customer's
    # Now verified, the list needs no code again.
    sent = len(app.sms.sent)
    await chat.say(ask)
    assert [r["card"]["number"] for r in chat.replies if "card" in r] == [second, first]
    assert len(app.sms.sent) == sent


async def test_an_appointment_by_number(app: App) -> None:
    chat = app.chat("en")
    await chat.say("hello")
    domain = app.domain
    day = date(2026, 11, 24)
    window = domain.appointments.catalog.windows("device_setup", "wensan", day)[0]
    booked = await domain.appointments.book(
        AppointmentDraft(
            service="device_setup",
            window=window.id,
            customer=domain.customers.id_for(PHONE),
            conversation=chat.key,
            locale="en",
            contact=PHONE,
        )
    )
    await chat.say(f"check appointment {booked.number}")
    card = chat.card()
    assert card["kind"] == "appointment" and card["number"] == booked.number
    assert card["status"] == "booked" and "Nov 24, 2026" in card["due"]
    assert {"label": "Place", "value": "Wensan Road Store"} in card["fields"]
    # Someone else's appointment is not shown.
    stranger = app.chat("en")
    await stranger.say(f"check appointment {booked.number}")
    assert "found nothing" in stranger.text
    assert timedelta(seconds=booked.start - app.clock.now) > timedelta(hours=1)


@pytest.mark.parametrize(
    "payload",
    [
        "progress:show:" + "X" * 150,
        "progress:verify:<b>C2611230040</b>",
        "progress:show:C2611230041",  # a wrong check digit: never one of our buttons
        "progress:show:",
    ],
)
async def test_a_forged_progress_button_is_refused_without_echoing_it(
    app: App, payload: str
) -> None:
    chat = app.chat("en")
    await chat.say("hello")
    answer = await chat.press(payload)
    assert "no longer valid" in answer
    forged = payload.partition(":")[2].partition(":")[2]
    assert not forged or forged not in answer
    assert all(len(b["payload"].encode()) <= 64 for b in chat.buttons())
