"""Notices rendered for the customer: text in the notice's language, a card, and buttons."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import Catalogs
from bot.messages import Button, Reply
from bot.services.notices import NoticeRenderer
from bot.services.outbox import Notice
from bot.settings import Settings

ZONE = "Asia/Shanghai"
CASE = "C2611230047"
APPOINTMENT = "A2611230012"
# 23 November 2026, 10:00 in the operator's zone.
START = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo(ZONE))


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load(Settings().locales_dir, ZONE)


PLACES = {("cy", "en"): "Chaoyang Store", ("cy", "zh"): "朝阳营业厅"}


@pytest.fixture(scope="module")
def render(catalogs: Catalogs) -> NoticeRenderer:
    return NoticeRenderer(catalogs, ZONE, place_names=lambda place, lang: PLACES.get((place, lang)))


def one(render: NoticeRenderer, kind: str, locale: str, subject: str, **params: str) -> Reply:
    [reply] = render(Notice("web:chat-1", kind, subject, locale, params))
    return reply


@pytest.mark.parametrize("kind", ["case_resolved", "visit_done"])
@pytest.mark.parametrize("locale", ["en", "zh"])
def test_resolved_and_done_ask_for_a_rating(render: NoticeRenderer, kind: str, locale: str) -> None:
    subject = CASE if kind == "case_resolved" else APPOINTMENT
    reply = one(render, kind, locale, subject)
    assert [b.payload for b in reply.buttons] == [f"rate:{subject}:{n}" for n in range(1, 6)]
    assert subject in reply.text
    expected = {"en": "5 (very satisfied)", "zh": "5分（非常满意）"}[locale]
    assert expected in reply.text
    assert reply.card is not None and reply.card.number == subject
    assert reply.card.kind == ("case" if kind == "case_resolved" else "appointment")


def test_case_state_says_the_state_and_note_in_english(render: NoticeRenderer) -> None:
    due = str(START.timestamp())
    reply = one(
        render,
        "case_state",
        "en",
        CASE,
        state="in_progress",
        note="A technician is on the way.",
        due=due,
    )
    assert reply.text == f"Your case {CASE} is now in progress. Note: A technician is on the way."
    assert reply.buttons == ()
    assert reply.card is not None
    assert (reply.card.kind, reply.card.title, reply.card.status) == ("case", "Case", "in progress")
    assert reply.card.due is not None and "10:00" in reply.card.due and "Nov" in reply.card.due


def test_case_state_in_chinese(render: NoticeRenderer) -> None:
    reply = one(render, "case_state", "zh", CASE, state="resolved", note="已更换光猫")
    assert reply.text == f"您的工单 {CASE} 当前状态：已解决。备注：已更换光猫"
    assert reply.card is not None and (reply.card.title, reply.card.status) == ("工单", "已解决")
    assert reply.card.due is None


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        ("en", f"Reminder: your appointment {APPOINTMENT} is at {{start}}, at Chaoyang Store."),
        ("zh", f"温馨提醒：您的预约 {APPOINTMENT} 时间为 {{start}}，地点：朝阳营业厅。"),
    ],
)
def test_reminder_gives_time_and_place(
    render: NoticeRenderer, catalogs: Catalogs, locale: str, text: str
) -> None:
    start = str(START.timestamp())
    reply = one(render, "appointment_reminder", locale, APPOINTMENT, start=start, place="cy")
    when = catalogs.format_datetime(locale, START)
    assert "10:00" in when and "2026" in when
    assert reply.text == text.format(start=when)
    assert reply.card is not None and reply.card.due == when
    assert [(f.label, f.value) for f in reply.card.fields] == [
        ({"en": "Place", "zh": "地点"}[locale], PLACES["cy", locale])
    ]


def test_a_place_name_given_in_the_notice_is_used(render: NoticeRenderer) -> None:
    start = str(START.timestamp())
    reply = one(render, "appointment_reminder", "en", APPOINTMENT, start=start, place_name="Depot")
    assert reply.text.endswith(", at Depot.")


@pytest.mark.parametrize("place", ["", "unknown-place"])
def test_reminder_without_a_place_name(
    render: NoticeRenderer, catalogs: Catalogs, place: str
) -> None:
    start = str(START.timestamp())
    reply = one(render, "appointment_reminder", "en", APPOINTMENT, start=start, place=place)
    when = catalogs.format_datetime("en", START)
    assert reply.text == f"Reminder: your appointment {APPOINTMENT} is at {when}."
    assert reply.card is not None and reply.card.fields == ()
    # Without a lookup a place id is never shown.
    bare = NoticeRenderer(catalogs, ZONE)
    [unnamed] = bare(
        Notice("web:chat-1", "appointment_reminder", APPOINTMENT, "en", {"place": "cy"})
    )
    assert "cy" not in unnamed.text.replace(APPOINTMENT, "")


@pytest.mark.parametrize(("locale", "title"), [("en", "Book a new time"), ("zh", "重新预约")])
def test_no_show_offers_a_new_booking(render: NoticeRenderer, locale: str, title: str) -> None:
    reply = one(render, "no_show", locale, APPOINTMENT, start=str(START.timestamp()))
    assert reply.buttons == (Button(title, "book:start"),)
    assert reply.card is not None
    assert reply.card.status == {"en": "missed", "zh": "未到场"}[locale]


@pytest.mark.parametrize(
    ("kind", "en", "zh"),
    [
        ("appointment_booked", "is booked for", "已成功"),
        ("appointment_changed", "has moved to", "已改到"),
        ("appointment_cancelled", "has been cancelled", "已取消"),
    ],
)
def test_appointment_changes(render: NoticeRenderer, kind: str, en: str, zh: str) -> None:
    start = str(START.timestamp())
    assert en in one(render, kind, "en", APPOINTMENT, start=start).text
    assert zh in one(render, kind, "zh", APPOINTMENT, start=start).text


def test_an_unknown_kind_still_says_something(render: NoticeRenderer) -> None:
    reply = one(render, "case_escalated", "en", CASE)
    assert reply.text == f"There is an update on {CASE}."
    assert reply.card is not None and reply.card.kind == "case"
