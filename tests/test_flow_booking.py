"""The booking flow through the web chat: gathering, reasons for refusals, capacity, changes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.dialog import Services
from bot.i18n import Text, _
from bot.services.appointments import AppointmentDraft
from bot.settings import Settings
from bot.store import keys
from bot.store.client import RedisHandles
from tests.flow_chat import OTHER_PHONE, PHONE, App, Chat, running_app

ZONE = ZoneInfo("Asia/Shanghai")
# Monday 2027-03-01 10:00 in the operator's zone: fixed, so dates in answers are known.
MONDAY = datetime(2027, 3, 1, 10, 0, tzinfo=ZONE).timestamp()
ID_NUMBER = "11010519491231002X"  # valid GB 11643 (fake)
APPOINTMENT = re.compile(r"\bA\d{10,13}\b")


@pytest.fixture
async def app(settings: Settings, services: Services, handles: RedisHandles) -> AsyncIterator[App]:
    async with running_app(settings, services, handles) as running:
        running.clock.now = MONDAY
        yield running


def said(services: Services, locale: str, text: Text) -> str:
    """`text` as the assistant says it in `locale` (whatever the catalogs hold today)."""
    return services.catalogs.render(locale, text)


async def book_directly(app: App, window: str, phone: str, service: str = "onsite_repair") -> str:
    """An appointment booked behind the chat (another conversation); its number."""
    draft = AppointmentDraft(
        service=service,
        window=window,
        customer=app.domain.customers.id_for(phone),
        conversation="web:someone-else",
        locale="zh",
        contact=phone,
        id_number=ID_NUMBER,
    )
    return (await app.domain.appointments.book(draft)).number


async def free_places(app: App, window: str, service: str = "onsite_repair") -> int:
    place, day, _hhmm = window.split(":")
    slots = await app.domain.appointments.availability(
        service, place, datetime.strptime(day, "%Y%m%d").date()
    )
    return next(slot.free for slot in slots if slot.window.id == window)


async def to_time_question(chat: Chat) -> None:
    """An on-site repair in Xihu, up to the question of when."""
    await chat.say("预约上门维修" if chat.locale == "zh" else "book an on-site repair")
    await chat.press("book:place:xihu")
    assert any(b["payload"].startswith("book:win:xihu:") for b in chat.buttons()), chat.text


# --- End to end ---------------------------------------------------------------------------


async def test_booking_by_buttons_in_english(app: App, services: Services) -> None:
    chat = app.chat("en")
    await chat.say("I want to book an appointment")
    assert "book:svc:store_business" in [b["payload"] for b in chat.buttons()]
    await chat.press("book:svc:store_business", "SIM or number business at a store")
    assert "Wensan Road Store" in [b["title"] for b in chat.buttons()]
    await chat.press("book:place:wensan", "Wensan Road Store")
    # The nearest free windows come from real capacity: today's next ones first.
    assert chat.buttons()[0]["payload"] == "book:win:wensan:20270301:1100"
    await chat.press("book:win:wensan:20270302:0900")
    await chat.say(PHONE)
    assert said(services, "en", _("This service needs your resident ID number")) in chat.text
    answer = await chat.say(ID_NUMBER)
    assert "Tue, Mar 2 09:00–10:00" in answer and "138****8000" in answer
    assert "110105********002X" in answer and ID_NUMBER not in answer
    assert PHONE not in answer
    answer = await chat.press("book:ok", "Confirm")
    card = chat.card()
    number = card["number"]
    assert card["kind"] == "appointment" and number in answer
    values = {f["value"] for f in card["fields"]}
    assert {"SIM or number business at a store", "Tue, Mar 2 09:00–10:00", "138****8000"} <= values
    assert [b["payload"] for b in chat.buttons()] == [
        f"book:move:{number}",
        f"book:cancel:{number}",
    ]
    stored = await app.domain.appointments.get(number)
    assert stored is not None and stored.state == "booked" and stored.conversation == chat.key
    assert stored.customer == app.domain.customers.id_for(PHONE)


async def test_booking_by_free_text_in_chinese(app: App) -> None:
    chat = app.chat("zh")
    answer = await chat.say("我想预约明天下午3点上门维修")
    assert "西湖区" in [b["title"] for b in chat.buttons()], answer  # only the place is missing
    await chat.say("西湖区")
    answer = await chat.say(PHONE)
    assert "3月2日周二 14:00–16:00" in answer and "138****8000" in answer
    answer = await chat.say("确认")
    card = chat.card()
    assert card["number"] in answer
    assert "上门维修" in {f["value"] for f in card["fields"]}
    assert "西湖区" in {f["value"] for f in card["fields"]}


async def test_booking_by_free_text_in_english(app: App) -> None:
    chat = app.chat("en")
    await chat.say("I need an on-site repair next Monday morning, my number is 13800138000")
    answer = await chat.say("Binjiang")
    # Next Monday's morning windows start at 09:00; the phone was given at the start.
    assert "Mon, Mar 8 09:00–11:00" in answer and "138****8000" in answer
    await chat.say("yes")
    assert APPOINTMENT.search(chat.text), chat.text


# --- Invalid values are asked again, with the reason ---------------------------------------


@pytest.mark.parametrize("locale", ["zh", "en"])
@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("138001380ab", _("A phone number has only digits, and this one has letters in it.")),
        ("1380013800", _("A mobile number has 11 digits; please check how many you typed.")),
    ],
)
async def test_a_bad_phone_is_asked_again_with_the_reason(
    app: App, services: Services, locale: str, answer: str, reason: Text
) -> None:
    chat = app.chat(locale)
    await to_time_question(chat)
    await chat.press("book:win:xihu:20270302:0900")
    text = await chat.say(answer)
    assert said(services, locale, reason) in text
    assert said(services, locale, _("Which phone number can we reach you on?")) in text
    await chat.say(PHONE)
    assert any(b["payload"] == "book:ok" for b in chat.buttons())


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_an_id_number_with_a_wrong_check_digit_is_refused(
    app: App, services: Services, locale: str
) -> None:
    chat = app.chat(locale)
    await chat.say("预约营业厅办理SIM卡" if locale == "zh" else "book SIM card business at a store")
    await chat.press("book:place:wensan")
    await chat.press("book:win:wensan:20270302:0900")
    await chat.say(PHONE)
    text = await chat.say("110105194912310021")
    reason = _(
        "That ID number's last character (its check digit) does not match the rest, "
        "so a character may be mistyped."
    )
    assert said(services, locale, reason) in text
    assert not any(b["payload"] == "book:ok" for b in chat.buttons())
    await chat.say(ID_NUMBER)
    assert any(b["payload"] == "book:ok" for b in chat.buttons())


@pytest.mark.parametrize(
    ("locale", "answer", "reason"),
    [
        ("zh", "2027年2月26日上午10点", _("That time has already passed. Please pick a time in the future.")),
        ("en", "February 26 2027 10am", _("That time has already passed. Please pick a time in the future.")),
        ("zh", "2030年3月2日上午10点", _("We take bookings up to {days} days ahead; that date is too far away.", days=14)),
        ("en", "March 2 2030 10am", _("We take bookings up to {days} days ahead; that date is too far away.", days=14)),
        ("zh", "明天晚上10点", _("That is outside our service hours: visits are between {opens} and {closes}.", opens="08:00", closes="20:00")),
        ("en", "tomorrow at 7am", _("That is outside our service hours: visits are between {opens} and {closes}.", opens="08:00", closes="20:00")),
    ],
)  # fmt: skip
async def test_a_time_that_cannot_be_booked_is_asked_again_with_the_reason(
    app: App, services: Services, locale: str, answer: str, reason: Text
) -> None:
    chat = app.chat(locale)
    await to_time_question(chat)
    text = await chat.say(answer)
    assert said(services, locale, reason) in text
    assert all(b["payload"].startswith("book:win:") for b in chat.buttons()) and chat.buttons()
    # Still at the time question: a good time goes on to the phone.
    await chat.say("明天上午10点" if locale == "zh" else "tomorrow at 10am")
    assert said(services, locale, _("Which phone number can we reach you on?")) in chat.text


# --- Capacity and conflicts ------------------------------------------------------------------


async def test_a_full_window_offers_the_nearest_free_ones(app: App, services: Services) -> None:
    full = "xihu:20270302:0900"
    for n in range(3):  # the sample home windows take 3 visits
        await book_directly(app, full, f"1390013900{n}")
    chat = app.chat("zh")
    await to_time_question(chat)
    assert f"book:win:{full}" not in [b["payload"] for b in chat.buttons()]
    text = await chat.say("明天上午10点")
    assert (
        said(services, "zh", _("Sorry, that window is full. These are the nearest free windows:"))
        in text
    )
    offered = [b["payload"] for b in chat.buttons()]
    assert offered and f"book:win:{full}" not in offered
    assert "book:win:xihu:20270302:1100" in offered
    await chat.press("book:win:xihu:20270302:1100")
    await chat.say(PHONE)
    await chat.say("确认")
    assert await free_places(app, "xihu:20270302:1100") == 2


async def test_an_overlap_with_a_strangers_visit_is_refused_without_naming_it(
    app: App, services: Services
) -> None:
    # The phone was typed, not verified: whose visits it has is not this chat's business.
    existing = await book_directly(app, "xihu:20270302:0900", PHONE)
    chat = app.chat("zh")
    await chat.say("预约明天上午10点手机设置")
    await chat.press("book:place:wensan")
    await chat.say(PHONE)
    text = await chat.say("确认")
    assert existing not in text and APPOINTMENT.findall(text) == []
    refusal = _("That phone number already has a visit at that time. Please pick another time.")
    assert said(services, "zh", refusal) in text
    assert await free_places(app, "wensan:20270302:1000", "device_setup") == 6


async def test_an_overlap_with_ones_own_appointment_names_it(app: App) -> None:
    chat = app.chat("zh")
    existing = await booked_in_chat(chat)  # xihu, tomorrow 09:00-11:00
    await chat.say("预约明天上午10点手机设置")
    await chat.press("book:place:wensan")
    await chat.say(PHONE)
    text = await chat.say("确认")
    assert APPOINTMENT.findall(text) == [existing]
    assert await free_places(app, "wensan:20270302:1000", "device_setup") == 6


async def test_an_id_number_given_for_a_service_without_one_is_not_kept(app: App) -> None:
    chat = app.chat("zh")
    await to_time_question(chat)  # an on-site repair needs no ID number
    await chat.say("明天上午10点")
    await chat.say(f"{PHONE} 身份证 {ID_NUMBER}")
    assert "身份证" not in chat.text and ID_NUMBER[-4:] not in chat.text
    await chat.say("确认")
    number = str(chat.card()["number"])
    stored = await app.runtime.redis.commands.hgetall(keys.appointment(number))
    assert stored and "id_number" not in stored


# --- Reschedule and cancel ---------------------------------------------------------------------


async def booked_in_chat(chat: Chat, when: str = "明天上午10点") -> str:
    await to_time_question(chat)
    await chat.say(when)
    await chat.say(PHONE)
    await chat.say("确认")
    return str(chat.card()["number"])


async def test_reschedule_and_cancel_release_capacity(app: App) -> None:
    chat = app.chat("zh")
    number = await booked_in_chat(chat)
    old, new = "xihu:20270302:0900", "xihu:20270303:1400"
    assert await free_places(app, old) == 2
    await chat.press(f"book:move:{number}")
    text = await chat.say("后天下午")
    assert "3月2日周二 09:00–11:00" in text and "3月3日周三 14:00–16:00" in text
    await chat.press("book:ok")
    assert chat.card()["number"] == number
    assert await free_places(app, old) == 3 and await free_places(app, new) == 2
    moved = await app.domain.appointments.get(number)
    assert moved is not None and moved.window == new
    await chat.say(f"我要取消预约 {number}")
    await chat.press_button("book:drop:")
    assert chat.card()["status"] == "已取消" or chat.card()["status"] == "Cancelled"
    assert await free_places(app, new) == 3
    cancelled = await app.domain.appointments.get(number)
    assert cancelled is not None and cancelled.state == "cancelled"


async def test_someone_elses_appointment_number_is_refused(app: App) -> None:
    theirs = await book_directly(app, "xihu:20270302:0900", OTHER_PHONE)
    chat = app.chat("en")
    text = await chat.say(f"I want to cancel my appointment {theirs}")
    assert theirs in text and "Xihu" not in text and "139" not in text
    assert not any(b["payload"].startswith("book:drop:") for b in chat.buttons())
    await chat.press(f"book:cancel:{theirs}")
    await chat.press(f"book:drop:{theirs}")
    await chat.press(f"book:move:{theirs}")
    assert not any(b["payload"].startswith("book:win:") for b in chat.buttons())
    appointment = await app.domain.appointments.get(theirs)
    assert appointment is not None and appointment.state == "booked"
    assert await free_places(app, "xihu:20270302:0900") == 2


# --- Leaving and coming back -------------------------------------------------------------------


async def test_cancel_mid_way_leaves_the_booking(app: App, services: Services) -> None:
    chat = app.chat("zh")
    await to_time_question(chat)
    text = await chat.say("取消")
    assert said(services, "zh", _("Cancelled. What else can I do for you?")) in text
    await chat.say("明天上午10点")
    assert not any(b["payload"] == "book:ok" for b in chat.buttons())
    assert said(services, "zh", _("Which phone number can we reach you on?")) not in chat.text


async def test_a_booking_interrupted_by_a_complaint_is_resumed(
    app: App, services: Services
) -> None:
    chat = app.chat("zh")
    await to_time_question(chat)
    await chat.say("明天上午10点")
    await chat.say("我要投诉")  # at the phone question: another request, not an answer
    assert any(b["payload"].startswith("complain:cat:") for b in chat.buttons()), chat.text
    await chat.press("complain:cat:billing")
    await chat.say("上个月莫名其妙扣了我50元增值业务费")
    await chat.say(OTHER_PHONE)
    assert any(b["payload"] == "cmd:resume" for b in chat.buttons()), chat.text
    text = await chat.press("cmd:resume")
    assert said(services, "zh", _("Which phone number can we reach you on?")) in text
    await chat.say(PHONE)
    assert "3月2日周二 09:00–11:00" in chat.text
    await chat.say("确认")
    assert APPOINTMENT.search(chat.text)


@pytest.mark.parametrize(
    "payload",
    ["book:win:garbage", "book:win:xihu:20270302:0930", "book:win:wensan:20270302:0900"],
)
async def test_a_window_button_that_is_not_offered_asks_the_time_again(
    app: App, payload: str
) -> None:
    chat = app.chat("en")
    await to_time_question(chat)
    answer = await chat.press(payload)
    assert "no longer valid" in answer and "main menu" not in answer
    assert any(b["payload"].startswith("book:win:xihu:") for b in chat.buttons())
    await chat.press("book:win:xihu:20270302:0900")
    await chat.say(PHONE)
    await chat.press("book:ok")
    assert chat.card()["number"]


@pytest.mark.parametrize(
    "payload", ["book:appt:", "book:move:" + "Z" * 50, "book:cancel:A2703010011x"]
)
async def test_a_forged_appointment_button_is_refused_without_echoing_it(
    app: App, payload: str
) -> None:
    chat = app.chat("en")
    await chat.say("hello")
    answer = await chat.press(payload)
    assert "no longer valid" in answer
    forged = payload.split(":", 2)[2]
    assert not forged or forged not in answer
