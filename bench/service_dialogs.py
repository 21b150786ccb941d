"""The booking and complaint dialogs: real bookings and cases, one customer per chat.

Every chat books with a phone of its own (the overlap rule refuses one customer two visits
at once) into an area, day and window picked from its number, so that 224 chats in a row
ask for 224 different windows (3 places each: up to 672 bookings a round); before every
round the windows get their capacity back (untimed), so capacity never refuses a benchmark
customer. Complaints, too, come from a phone per chat, so none counts as a repeat.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bench.dialog import Dialog, Step, customer_phone
from bot.services.catalog import SampleCatalog
from bot.settings import Settings
from bot.store import keys

AREAS = ("xihu", "shangcheng", "gongshu", "binjiang")
# A time inside each of the home windows (09-11, 11-13, 14-16, 16-18), as customers say it.
TIMES = ("上午10点", "中午12点", "下午3点", "下午5点")
DAYS_AHEAD = 14  # the policy's booking horizon: 1..14 days ahead are bookable
ID_NUMBER = "11010519491231002X"  # obviously fake, valid GB 11643
COMPLAINT = "上个月话费多扣了50元，打客服也没人处理"
COMPLAINT_CATEGORIES = ("billing", "network", "attitude", "marketing")


@functools.cache
def _settings() -> Settings:
    return Settings()


def _today() -> datetime:
    return datetime.now(ZoneInfo(_settings().timezone))


def booking_steps(chat: int, salt: int) -> Sequence[Step]:
    """Ask, pick the area by button, say a day and time, phone, ID number, confirm."""
    area = AREAS[chat % len(AREAS)]
    at = TIMES[chat // len(AREAS) % len(TIMES)]
    ahead = 1 + chat // (len(AREAS) * len(TIMES)) % DAYS_AHEAD
    day = (_today() + timedelta(days=ahead)).date()
    return (
        Step("我想预约宽带安装"),
        Step(press=True, payload=f"book:place:{area}"),
        Step(f"{day.month}月{day.day}日{at}"),
        Step(customer_phone(chat, salt)),
        Step(ID_NUMBER),
        Step(press=True, payload="book:ok"),
    )


async def reset_windows(probe: aioredis.Redis) -> None:
    """Every window of the booking horizon empty again (the benchmark's customers only)."""
    settings = _settings()
    catalog = SampleCatalog.load(settings.data_dir / "appointments.yml", settings.timezone)
    today = _today().date()
    places = {p.id for s in catalog.service_types() for p in catalog.places(s.id)}
    days = [today + timedelta(days=n) for n in range(DAYS_AHEAD + 2)]
    await probe.delete(*(keys.window_bookings(p, f"{d:%Y%m%d}") for p in places for d in days))


def complaint_steps(chat: int, salt: int) -> Sequence[Step]:
    """Ask to complain, pick a category by button, describe it, give a phone."""
    category = COMPLAINT_CATEGORIES[chat % len(COMPLAINT_CATEGORIES)]
    return (
        Step("我要投诉"),
        Step(press=True, payload=f"complain:cat:{category}"),
        Step(COMPLAINT),
        Step(customer_phone(chat, salt)),
    )


BOOKING = Dialog(
    "booking",
    booking_steps,
    length=6,
    changing=frozenset({5}),
    reset=reset_windows,
)
COMPLAINT_DIALOG = Dialog("complaint", complaint_steps, length=4, changing=frozenset({3}))
