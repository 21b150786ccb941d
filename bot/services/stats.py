"""Daily counters for the supervisor's "today" figures and charts, by the operator's day.

One Redis hash per day (`sw:{stats}:<yyyymmdd>`) holds running totals, so a figure is a
single increment where it happens and reading a month is one pipeline. The day is the
operator's (Asia/Shanghai by default): a breach at 23:30 UTC belongs to the next morning's
day in Shanghai, as the supervisors there count it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.store import keys
from bot.store.guard import guarded

# handoffs and waits count events, wait_s sums their waits; sla_* count dues as they are
# met on time, met late or breached; csat_n and csat_sum give the average rating.
FIELDS = (
    "handoffs",
    "waits",
    "wait_s",
    "sla_met",
    "sla_late",
    "sla_breached",
    "csat_n",
    "csat_sum",
)


class Stats:
    """Adds to and reads the day's counters."""

    def __init__(
        self,
        redis: aioredis.Redis,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._zone = ZoneInfo(timezone)
        self._clock = clock

    async def add(self, field: str, amount: float = 1, now: float | None = None) -> None:
        """Add `amount` to `field` of the operator's day of `now` (default: the clock's now).

        A mistyped field raises ValueError rather than start a counter no chart reads."""
        if field not in FIELDS:
            raise ValueError(f"unknown statistic {field!r}; expected one of {', '.join(FIELDS)}")
        key = keys.stats_day(_day(self.today(now)))
        pipe = self._redis.pipeline(transaction=True)
        # HINCRBYFLOAT for counts too: it adds to an integer value, while HINCRBY refuses a
        # field that once took a fractional amount.
        pipe.hincrbyfloat(key, field, amount)
        pipe.expire(key, keys.STATS_TTL_S)
        await guarded(pipe.execute())

    async def day(self, day: date) -> dict[str, float]:
        """Every counter of `day`, zero where nothing was counted."""
        found: dict[str, str] = await guarded(
            self._redis.hgetall(keys.stats_day(_day(day)))  # type: ignore[arg-type]
        )
        return _figures(found)

    async def days(self, n: int) -> list[tuple[date, dict[str, float]]]:
        """The last `n` operator days, oldest first and today last, for the charts."""
        today = self.today()
        wanted = [today - timedelta(days=back) for back in range(n - 1, -1, -1)]
        pipe = self._redis.pipeline(transaction=False)
        for day in wanted:
            pipe.hgetall(keys.stats_day(_day(day)))
        found: list[dict[str, str]] = await guarded(pipe.execute())
        return [(day, _figures(fields)) for day, fields in zip(wanted, found, strict=True)]

    def today(self, now: float | None = None) -> date:
        """The operator's date at `now` (default: the clock's now)."""
        return datetime.fromtimestamp(self._clock() if now is None else now, self._zone).date()


def _day(day: date) -> str:
    return day.strftime("%Y%m%d")


def _figures(fields: dict[str, str]) -> dict[str, float]:
    return {name: float(fields.get(name, 0)) for name in FIELDS}
