"""The complaint flow through the web chat: category, description, contact, graded case."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.dialog import Services
from bot.services.case_texts import complaint_filed
from bot.services.cases import Case
from bot.services.complaints import Grade
from bot.services.policy import Policy
from bot.settings import DATA_DIR, Settings
from bot.store.client import RedisHandles
from tests.flow_chat import CASE_NUMBER, PHONE, App, Chat, running_app


@pytest.fixture
async def app(settings: Settings, services: Services, handles: RedisHandles) -> AsyncIterator[App]:
    async with running_app(settings, services, handles) as running:
        yield running


async def complain(chat: Chat, category: str, description: str, phone: str = PHONE) -> str:
    """Go through the flow with the category button; the case number answered."""
    await chat.say("我要投诉" if chat.locale == "zh" else "I want to file a complaint")
    await chat.press(f"complain:cat:{category}")
    await chat.say(description)
    answer = await chat.say(phone)
    match = CASE_NUMBER.search(answer)
    assert match is not None, answer
    return match.group()


async def test_a_complaint_in_chinese_gets_number_grade_and_due_time_at_once(app: App) -> None:
    chat = app.chat("zh")
    answer = await chat.say("我要投诉")
    payloads = [b["payload"] for b in chat.buttons()]
    assert payloads == [
        f"complain:cat:{c}"
        for c in ("network", "billing", "attitude", "unfixed", "marketing", "privacy")
    ]
    assert "投诉" in answer and "话费争议" in [b["title"] for b in chat.buttons()]
    assert "描述" in await chat.press("complain:cat:billing", "话费争议")
    assert "手机号" in await chat.say("上个月莫名其妙扣了我50元增值业务费")
    answer = await chat.say("13800138000")
    number = CASE_NUMBER.search(answer)
    assert number is not None, answer
    # Billing is complex: a response within 72 hours, due three days from now.
    assert "复杂" in answer and "72" in answer and "11月26日" in answer
    card = chat.card()
    assert card["kind"] == "case" and card["number"] == number.group()
    assert card["status"] == "已受理" and "11月26日" in card["due"]
    case = await app.domain.cases.get(number.group())
    assert case is not None
    assert (case.kind, case.category, case.grade, case.state) == (
        "complaint",
        "billing",
        "complex",
        "received",
    )
    assert case.contact == PHONE and case.conversation == chat.key
    assert case.customer == app.domain.customers.id_for(PHONE)
    assert case.due["response"] == app.clock.now + 72 * 3600


async def test_a_complaint_in_english(app: App) -> None:
    chat = app.chat("en")
    await chat.say("I want to file a complaint")
    assert "Network quality" in [b["title"] for b in chat.buttons()]
    assert "describe" in await chat.press("complain:cat:network", "Network quality")
    assert "mobile number" in await chat.say("No signal at home for a week, I cannot call anyone.")
    answer = await chat.say("138 0013 8000")
    # Network is ordinary, "no signal" makes it urgent: 4 hours.
    assert "urgent" in answer and "within 4 hours" in answer and "Nov 23, 2026" in answer
    assert "what you describe" in chat.text
    card = chat.card()
    assert card["status"] == "received" and card["title"] == "Complaint"
    assert {"label": "Grade", "value": "urgent"} in card["fields"]


@pytest.mark.parametrize(
    ("locale", "words", "category"),
    [
        ("zh", "乱扣费", "billing"),
        ("zh", "天天给我打推销电话", "marketing"),
        ("zh", "我的个人信息被泄露了", "privacy"),
        ("zh", "修了三次还是没修好", "unfixed"),
        ("en", "the staff were rude", "attitude"),
        ("en", "my broadband is slow", "network"),
    ],
)
async def test_the_category_can_be_said_in_words(
    app: App, locale: str, words: str, category: str
) -> None:
    chat = app.chat(locale)
    await chat.say("我要投诉" if locale == "zh" else "I want to file a complaint")
    await chat.say(words)
    await chat.say("It has been going on for two weeks and nobody helps.")
    answer = await chat.say(PHONE)
    number = CASE_NUMBER.search(answer)
    assert number is not None, answer
    case = await app.domain.cases.get(number.group())
    assert case is not None and case.category == category


async def test_an_unclear_category_is_asked_again_with_the_buttons(app: App) -> None:
    chat = app.chat("en")
    await chat.say("I want to file a complaint")
    answer = await chat.say("hmm, something else")
    assert "could not tell" in answer
    assert len([b for b in chat.buttons() if b["payload"].startswith("complain:cat:")]) == 6


async def test_a_first_message_naming_the_category_skips_that_question(app: App) -> None:
    chat = app.chat("zh")
    answer = await chat.say("我要投诉，你们乱扣费")
    assert not chat.buttons() and "话费争议" in answer and "描述" in answer


async def test_a_description_of_2000_characters_is_stored_whole(app: App) -> None:
    chat = app.chat("zh")
    # CJK ideographs only: nothing the message normalisation (NFKC) would change.
    description = "".join(chr(0x4E00 + (i * 7) % 3000) for i in range(2000))
    await chat.say("我要投诉")
    await chat.press("complain:cat:network")
    await chat.say(description)
    number = CASE_NUMBER.search(await chat.say(PHONE))
    assert number is not None, chat.text
    case = await app.domain.cases.get(number.group())
    assert case is not None and case.description == description


@pytest.mark.parametrize(
    ("locale", "phone", "reason"),
    [
        ("en", "1380013800O", "letters"),
        ("zh", "电话是138OO138OOO", "字母"),
        ("en", "138001380", "you typed 9"),
        ("zh", "138001380", "9 位"),
        ("en", "12345678901", "not a valid"),
        # Words around the number are not letters in it.
        ("en", "my number is 1380013800", "you typed 10"),
    ],
)
async def test_an_invalid_phone_is_asked_again_with_the_reason(
    app: App, locale: str, phone: str, reason: str
) -> None:
    chat = app.chat(locale)
    await chat.say("我要投诉" if locale == "zh" else "I want to file a complaint")
    await chat.press("complain:cat:billing")
    await chat.say("同一个月扣了我两次月租" if locale == "zh" else "They charged me twice.")
    answer = await chat.say(phone)
    assert reason in answer and CASE_NUMBER.search(answer) is None
    assert CASE_NUMBER.search(await chat.say(PHONE)) is not None


async def test_a_repeat_complaint_within_30_days_goes_up_a_grade(app: App) -> None:
    first = await complain(app.chat("zh"), "network", "网速很慢，晚上尤其明显")
    app.clock.advance(10 * 24 * 3600)
    # Another conversation, the same phone: the same customer.
    second_chat = app.chat("zh")
    second = await complain(second_chat, "network", "网速很慢，晚上尤其明显")
    graded = [await app.domain.cases.get(n) for n in (first, second)]
    assert [c.grade for c in graded if c] == ["ordinary", "urgent"]
    assert "30 天内重复投诉" in second_chat.text


async def test_after_30_days_a_complaint_is_no_repeat(app: App) -> None:
    await complain(app.chat("en"), "network", "The internet is slow in the evening.")
    app.clock.advance(31 * 24 * 3600)
    number = await complain(app.chat("en"), "network", "The internet is slow in the evening.")
    case = await app.domain.cases.get(number)
    assert case is not None and case.grade == "ordinary"


@pytest.mark.parametrize(
    ("locale", "description"),
    [
        ("zh", "网速很慢，再不处理我就去工信部投诉"),
        ("en", "The internet is slow. I will go to MIIT."),
    ],
)
async def test_naming_the_regulator_goes_up_a_grade(
    app: App, locale: str, description: str
) -> None:
    chat = app.chat(locale)
    number = await complain(chat, "network", description)
    case = await app.domain.cases.get(number)
    assert case is not None and case.grade == "urgent" and "regulator" in (case.grade_reason or "")
    assert ("监管" if locale == "zh" else "regulator") in chat.text


async def test_another_request_midway_sets_the_complaint_aside_and_back(app: App) -> None:
    chat = app.chat("en")
    await chat.say("I want to file a complaint")
    await chat.press("complain:cat:billing")
    answer = await chat.say("check progress")
    assert "case or appointment" in answer  # the progress flow asks for a number
    await chat.say("cancel")
    assert "cmd:resume" in [b["payload"] for b in chat.buttons()]
    answer = await chat.press("cmd:resume")
    # Taken up where it was: the category is kept, the description is asked again.
    assert "Billing dispute: please describe" in answer


async def test_cancel_leaves_the_complaint(app: App) -> None:
    chat = app.chat("en")
    await chat.say("I want to file a complaint")
    await chat.press("complain:cat:billing")
    assert "Cancelled" in await chat.say("cancel")
    assert "describe" not in await chat.say("hello")


def test_the_promised_time_is_said_as_the_policy_has_it(services: Services) -> None:
    policy = Policy.load(DATA_DIR / "policy.yml")
    ninety = dataclasses.replace(
        policy, complaint_response={**policy.complaint_response, "urgent": timedelta(minutes=90)}
    )
    case = Case(
        "C2611230040", "complaint", "received", None, None, "en", 0.0, 0.0,
        {"response": 5400.0}, "", "billing", "urgent", "category:billing", None, None,
        None, None, None, None, None, None,
    )  # fmt: skip
    registered, *_raised = complaint_filed(ninety, case, Grade("urgent", "category:billing"))
    text = services.catalogs.render("en", registered)
    assert "within 1.5 hours" in text


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_an_urgent_complaint_goes_to_a_person_at_once(app: App, locale: str) -> None:
    chat = app.chat(locale)
    description = "我的个人信息被泄露了" if locale == "zh" else "my personal data was leaked"
    number = await complain(chat, "privacy", description)
    record = await app.runtime.desk.handoff.handoffs.get(chat.key)
    assert record is not None and record.state == "queued" and record.case == number
    assert record.reason == "urgent_complaint"
    assert ("工单 " + number if locale == "zh" else f"case {number}") in chat.text


async def test_an_ordinary_complaint_stays_with_the_bot(app: App) -> None:
    chat = app.chat("zh")
    await complain(chat, "billing", "上个月莫名其妙扣了我50元增值业务费")
    assert await app.runtime.desk.handoff.handoffs.get(chat.key) is None
