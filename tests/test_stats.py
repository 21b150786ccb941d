"""Daily statistics: counted on the operator's day, kept 40 days, read a day or a month."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.stats import FIELDS, Stats
from bot.store import keys
from bot.store.client import RedisHandles
from tests.conftest import MovableClock

# 2026-11-23 23:30 UTC is 2026-11-24 07:30 in Shanghai.
LATE_UTC = 1_795_476_600.0
DAY = 86_400.0


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(LATE_UTC)


@pytest.fixture
def stats(handles: RedisHandles, clock: MovableClock) -> Stats:
    return Stats(handles.commands, "Asia/Shanghai", clock)


async def test_counts_and_sums_add_up_and_unknown_fields_read_zero(stats: Stats) -> None:
    await stats.add("handoffs")
    await stats.add("handoffs")
    await stats.add("waits")
    await stats.add("wait_s", 12.5)
    await stats.add("wait_s", 30)
    today = await stats.day(date(2026, 11, 24))
    assert today == {**dict.fromkeys(FIELDS, 0.0), "handoffs": 2, "waits": 1, "wait_s": 42.5}


async def test_the_day_is_the_operators(handles: RedisHandles, clock: MovableClock) -> None:
    shanghai = Stats(handles.commands, "Asia/Shanghai", clock)
    await shanghai.add("sla_breached")
    assert (await shanghai.day(date(2026, 11, 24)))["sla_breached"] == 1
    assert (await shanghai.day(date(2026, 11, 23)))["sla_breached"] == 0
    # An explicit time counts on its own day; a UTC operator counts on UTC's day.
    await shanghai.add("sla_met", now=LATE_UTC - DAY)
    assert (await shanghai.day(date(2026, 11, 23)))["sla_met"] == 1
    utc = Stats(handles.commands, "UTC", clock)
    assert utc.today() == date(2026, 11, 23)


async def test_days_come_oldest_first_ending_today(stats: Stats, clock: MovableClock) -> None:
    await stats.add("csat_n", now=LATE_UTC - 2 * DAY)
    await stats.add("csat_sum", 4, now=LATE_UTC - 2 * DAY)
    await stats.add("csat_n")
    await stats.add("csat_sum", 5)
    month = await stats.days(3)
    assert [day for day, _figures in month] == [
        date(2026, 11, 22),
        date(2026, 11, 23),
        date(2026, 11, 24),
    ]
    assert [(f["csat_n"], f["csat_sum"]) for _day, f in month] == [(1, 4), (0, 0), (1, 5)]


async def test_a_day_expires_after_forty_days(stats: Stats, handles: RedisHandles) -> None:
    await stats.add("handoffs")
    ttl = await handles.commands.ttl(keys.stats_day("20261124"))
    assert 39 * DAY < ttl <= keys.STATS_TTL_S == 40 * DAY


async def test_an_unknown_field_is_refused(stats: Stats) -> None:
    with pytest.raises(ValueError, match="handofs"):
        await stats.add("handofs")
