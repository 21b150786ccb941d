"""The fault report flow through the web chat: outage check, restart advice, repair case, visit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.dialog import Services
from bot.i18n import Text, _
from bot.settings import Settings
from bot.store.client import RedisHandles
from tests.flow_chat import CASE_NUMBER, PHONE, App, running_app

ZONE = ZoneInfo("Asia/Shanghai")
# Monday 2027-03-01 10:00 in the operator's zone (the sample outage in Xihu is going on).
MONDAY = datetime(2027, 3, 1, 10, 0, tzinfo=ZONE).timestamp()
HOUR = 3600.0


@pytest.fixture
async def app(settings: Settings, services: Services, handles: RedisHandles) -> AsyncIterator[App]:
    async with running_app(settings, services, handles) as running:
        running.clock.now = MONDAY
        yield running


def said(services: Services, locale: str, text: Text) -> str:
    return services.catalogs.render(locale, text)


async def test_an_outage_area_is_told_then_a_case_leads_into_booking(
    app: App, services: Services
) -> None:
    chat = app.chat("zh")
    await chat.say("宽带断网了")
    assert "fault:area:xihu" in [b["payload"] for b in chat.buttons()]
    text = await chat.press("fault:area:xihu", "西湖区")
    outage = app.domain.outages.active("xihu", MONDAY)
    assert outage is not None and outage.describe("zh") in text
    assert [b["payload"] for b in chat.buttons()] == ["fault:notify", "fault:report"]
    await chat.press("fault:report")
    text = await chat.say(PHONE)
    found = CASE_NUMBER.search(text)
    assert found is not None, text
    case = await app.domain.cases.get(found.group())
    assert case is not None and case.kind == "fault" and case.area == "xihu"
    assert case.description == "宽带断网了" and case.contact == PHONE
    assert case.conversation == chat.key
    # Due times from the policy: respond within 2 h, repair within 4 h.
    assert case.due["response"] == MONDAY + 2 * HOUR and case.due["repair"] == MONDAY + 4 * HOUR
    card = chat.card()
    assert card["kind"] == "case" and card["number"] == case.number
    assert "14:00" in card["due"] and "12:00" in text and "14:00" in text
    assert "138****8000" in {f["value"] for f in card["fields"]} and PHONE not in text
    visit = f"book:svc:onsite_repair:xihu:{case.number}"
    assert visit in [b["payload"] for b in chat.buttons()] and len(visit.encode()) <= 64
    # The visit offer starts booking with service, area, case and phone known.
    await chat.press(visit)
    assert all(b["payload"].startswith("book:win:xihu:") for b in chat.buttons()), chat.text
    text = await chat.say("明天上午")
    assert case.number in text and "138****8000" in text
    await chat.say("确认")
    appointment = await app.domain.appointments.get(chat.card()["number"])
    assert appointment is not None and appointment.case == case.number
    assert appointment.service == "onsite_repair" and appointment.place == "xihu"


async def test_without_an_outage_restart_advice_comes_first_then_a_case(
    app: App, services: Services
) -> None:
    chat = app.chat("en")
    await chat.say("my internet is down")
    text = await chat.say("Gongshu")
    assert "Gongshu District" in text
    assert [b["payload"] for b in chat.buttons()] == ["fault:fixed", "fault:broken"]
    text = await chat.press("fault:broken", "Still broken")
    assert said(services, "en", _("Which phone number can our engineer reach you on?")) in text
    text = await chat.say("138001380ab")
    reason = _("A phone number has only digits, and this one has letters in it.")
    assert said(services, "en", reason) in text
    text = await chat.say(PHONE)
    found = CASE_NUMBER.search(text)
    assert found is not None, text
    case = await app.domain.cases.get(found.group())
    assert case is not None and case.area == "gongshu" and case.description == "my internet is down"
    assert case.due["repair"] - case.created == 4 * HOUR
    assert "book:svc:onsite_repair:gongshu:" + case.number in [b["payload"] for b in chat.buttons()]


async def test_a_description_is_asked_for_when_the_report_started_from_the_menu(
    app: App, services: Services
) -> None:
    chat = app.chat("zh")
    await chat.press("fault:start")
    await chat.press("fault:area:binjiang")
    text = await chat.say("没用")  # "didn't help"
    assert said(services, "zh", _("Please describe the problem in a few words.")) in text
    await chat.say("光猫红灯一直闪 电视和网络都不能用")
    await chat.say(PHONE)
    found = CASE_NUMBER.search(chat.text)
    assert found is not None, chat.text
    case = await app.domain.cases.get(found.group())
    assert case is not None and case.description == "光猫红灯一直闪 电视和网络都不能用"


async def test_fixed_by_a_restart_opens_no_case(app: App, services: Services) -> None:
    chat = app.chat("en")
    await chat.say("my internet is down")
    await chat.press("fault:area:gongshu")
    text = await chat.press("fault:fixed", "Fixed now")
    assert (
        said(services, "en", _("Glad it works again! Is there anything else I can do for you?"))
        in text
    )
    assert CASE_NUMBER.search(text) is None
    assert await app.domain.cases.of_customer(app.domain.customers.id_for(PHONE)) == []


async def test_notify_me_schedules_a_notice_for_the_end_of_the_outage(app: App) -> None:
    chat = app.chat("zh")
    await chat.say("宽带断网了")
    await chat.press("fault:area:xihu")
    await chat.press("fault:notify")
    outage = app.domain.outages.active("xihu", MONDAY)
    assert outage is not None
    assert await app.domain.scheduler.when(f"outage:xihu:{chat.key}") == outage.end


async def test_cancel_mid_way_leaves_the_report(app: App, services: Services) -> None:
    chat = app.chat("zh")
    await chat.say("宽带断网了")
    await chat.press("fault:area:gongshu")
    await chat.press("fault:broken")
    text = await chat.say("取消")
    assert said(services, "zh", _("Cancelled. What else can I do for you?")) in text
    text = await chat.say(PHONE)
    assert CASE_NUMBER.search(text) is None


async def test_a_complaint_mid_way_sets_the_report_aside(app: App) -> None:
    chat = app.chat("zh")
    await chat.say("宽带断网了")
    await chat.say("我要投诉")  # at the area question: not an area
    assert any(b["payload"].startswith("complain:cat:") for b in chat.buttons()), chat.text
    await chat.say("取消")
    await chat.press("cmd:resume")
    assert "fault:area:xihu" in [b["payload"] for b in chat.buttons()], chat.text
